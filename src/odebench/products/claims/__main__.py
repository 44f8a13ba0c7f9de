"""``python -m odebench.products.claims``: write claims.csv (see :func:`main`)."""

import sys

from odebench.products.claims import main

sys.exit(main())
