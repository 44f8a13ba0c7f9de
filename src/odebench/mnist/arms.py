"""The Table 1 arms by name, free of torch: the pipeline plans with them, tables sort by them.

:data:`odebench.mnist.models.MODELS` builds each of them; a test keeps the two in step.
"""

from __future__ import annotations

#: Model names in Table 1's row order.
ARMS = ("mlp", "resnet", "rknet", "odenet", "stem")

#: Models whose forward pass contains an ODE solve (their runs sweep ``tolerances``).
ODE_MODELS = frozenset({"odenet", "rknet"})
#: ODE models trained at every tolerance (the solver studies probe each); the others at
#: the first only: backpropagating through the solver is the costliest arm, and the
#: paper reports the RK-Net at one tolerance.
EVERY_TOLERANCE = frozenset({"odenet"})

#: Random-crop padding of the training images unless the run config sets
#: ``crop_padding`` (config.yaml's ``model_overrides`` does so for the MLP).
CROP_PADDING = 4
