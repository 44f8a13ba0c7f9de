"""odebench: a reproducible benchmark of "Neural Ordinary Differential Equations".

The package is layered; each layer's ``__init__`` says what it may import:

- :mod:`odebench.core`: numerics and measurement shared by every family (solving,
  dynamics, measuring, statuses, the run envelope and its training loop, atomic I/O).
- :mod:`odebench.mnist`, :mod:`odebench.spirals`, :mod:`odebench.cnf`: one experiment
  family each (Table 1 and Figure 3; Table 2 and Figure 8; Figures 4 and 5 and the
  trace study). Each builds a run from its run config, trains, evaluates to a metrics
  dict, and has an entry point ``python -m odebench.<family>``.
- :mod:`odebench.products`: tables, figures, claims, the report, read only from the
  runs' files and the aggregated tables; one registry declares every product.
- :mod:`odebench.families`: the registry of run families (each package's torch-free
  ``family.py``), between the experiments and the products.
- :mod:`odebench.pipeline`: config and the DAG's plan; free of torch, so a Snakemake
  dry run stays quick.
- :mod:`odebench.perf`: solver benchmarks for asv and speed checks.

The public surface is small, and loads torch only when it is used:

- :func:`build_model`, :data:`MODELS`, :func:`count_parameters`: the Table 1 arms.
- :class:`ODEBlock`, :data:`GRADIENT_MODES`, :data:`SOLVERS`: an ODE solve with
  NFE counting, by adjoint or by direct backpropagation.
- :class:`SavedTensorMeter`: exact activation memory of a training step.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first use: ``import odebench``
#: and the torch-free layers do not pay for torch).
_EXPORTS = {
    "GRADIENT_MODES": "odebench.core.solving",
    "SOLVERS": "odebench.core.solving",
    "ODEBlock": "odebench.core.solving",
    "SavedTensorMeter": "odebench.core.measuring",
    "MODELS": "odebench.mnist.models",
    "build_model": "odebench.mnist.models",
    "count_parameters": "odebench.core.measuring",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'odebench' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
