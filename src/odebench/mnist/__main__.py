"""``python -m odebench.mnist``: train one Table 1 run (see :mod:`odebench.mnist.train`)."""

import sys

from odebench.mnist.train import main

sys.exit(main())
