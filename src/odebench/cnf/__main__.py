"""``python -m odebench.cnf train|trace|collect`` (see :mod:`odebench.cnf.train`)."""

import sys

from odebench.cnf.train import main

sys.exit(main())
