"""``python -m odebench.products table|figure NAME ...`` (see :mod:`odebench.products.build`)."""

import sys

from odebench.products.build import main

sys.exit(main())
