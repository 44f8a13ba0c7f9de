"""``python -m odebench.spirals data ...`` makes the data set (:mod:`odebench.spirals.data`);
``train`` and ``collect`` train a run and collect Figure 8's table (:mod:`odebench.spirals.train`).
"""

import sys

from odebench.spirals import data, train

if len(sys.argv) > 1 and sys.argv[1] == "data":
    sys.exit(data.main(sys.argv[2:]))
sys.exit(train.main())
