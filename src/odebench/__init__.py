"""odebench: a reproducible benchmark of "Neural Ordinary Differential Equations".

The public surface is small; the pipeline's entry points live in the modules
they are named after (``python -m odebench.data``, ``odebench.mnist``,
``odebench.probing``, ``odebench.memory_scaling``, ``odebench.studies``,
``odebench.sequences``, ``odebench.cnf``, ``odebench.tables``, ``odebench.figures``,
``odebench.claims``, ``odebench.report``, ``odebench.manuscript``, ``odebench.bench``,
``odebench.speedcheck``).

- :func:`build_model`, :data:`MODELS`, :func:`count_parameters`: the Table 1 arms.
- :class:`ODEBlock`, :data:`GRADIENT_MODES`, :data:`SOLVERS`: an ODE solve with
  NFE counting, by adjoint or by direct backpropagation.
- :class:`SavedTensorMeter`: exact activation memory of a training step.
"""

from odebench.measuring import SavedTensorMeter
from odebench.models import MODELS, build_model, count_parameters
from odebench.solving import GRADIENT_MODES, SOLVERS, ODEBlock

__version__ = "0.1.0"
__all__ = [
    "GRADIENT_MODES",
    "MODELS",
    "SOLVERS",
    "ODEBlock",
    "SavedTensorMeter",
    "build_model",
    "count_parameters",
]
