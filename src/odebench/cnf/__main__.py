"""``python -m odebench.cnf train|trace``: train one flow (:mod:`odebench.cnf.train`), run
the trace-estimator study (:mod:`odebench.cnf.trace`)."""

import sys

from odebench.cnf import trace, train
from odebench.core.cli import dispatch

sys.exit(dispatch("python -m odebench.cnf", {"train": train.main, "trace": trace.main}))
