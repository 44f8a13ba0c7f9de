"""``python -m odebench.spirals data|train``: make the data set (:mod:`odebench.spirals.data`),
train one run (:mod:`odebench.spirals.train`)."""

import sys

from odebench.core.cli import dispatch
from odebench.spirals import data, train

sys.exit(dispatch("python -m odebench.spirals", {"data": data.main, "train": train.main}))
