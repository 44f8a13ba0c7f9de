"""``python -m odebench.perf.cost``: the command line of :mod:`odebench.perf.cost.cli`."""

import sys

from odebench.perf.cost.cli import main

if __name__ == "__main__":
    sys.exit(main())
