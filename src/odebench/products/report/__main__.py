"""``python -m odebench.products.report``: see :func:`odebench.products.report.main`."""

import sys

from odebench.products.report import main

sys.exit(main())
