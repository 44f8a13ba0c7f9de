"""The solver backends odebench knows, as one table of data, free of torch.

What the rest of the project needs to know about a backend without running it lives
here: the config schema's enums (checked by tests/pipeline/test_config.py), the
planner's defaults, and the products that label or select rows by step-size control.
:mod:`odebench.core.solving` pairs each entry with the code that takes the steps and
refuses to import if the two disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendSpec:
    """One solver backend, as data."""

    description: str
    #: One step size and one error norm for the whole batch (torchdiffeq's, the paper's
    #: setting); False: a step size per sample.
    joint_step_control: bool
    #: A run may train with it (the schema's ``solver.backend``); the others are
    #: measured beside them (bench, asv, the probe's ``sweep_backends``).
    trains: bool
    #: The solver methods it offers; None: every method of torchdiffeq's registry
    #: (:data:`odebench.core.solving.SOLVERS`). Its code refuses to import on a mismatch.
    methods: tuple[str, ...] | None = None


class StepBudgetExceeded(RuntimeError):
    """The adaptive solver needed more steps than the configured budget allows.

    Every backend raises this one exception (from the forward solve, or from
    ``backward()`` for an adjoint), so a run records why it stopped whichever took the steps.
    """


#: Backend name -> what it is. Order matters: products take the first joint backend
#: present in a sweep.
BACKENDS: dict[str, BackendSpec] = {
    "torchdiffeq": BackendSpec("torchdiffeq 0.2.5 as published", True, True),
    "lean": BackendSpec(
        "torchdiffeq's methods and step control, less bookkeeping per step (odebench.core.lean_rk)",
        True,
        True,
    ),
    "torchode": BackendSpec(
        # its adjoint holds one parameter adjoint per sample and refuses the Hutchinson
        # CNF, and it has no LSODA: measured, not trained with
        "torchode 0.2.0: per-sample step-size control (odebench.core.torchode_backend)",
        False,
        False,
        # the steppers whose tableau matches torchdiffeq's method of the same name
        ("dopri5", "adaptive_heun", "euler", "heun2"),
    ),
}
#: The error norms of the adjoint's backward solve (odebench.core.solving.ADJOINT_NORMS).
ADJOINT_NORMS: tuple[str, ...] = ("full", "seminorm")

DEFAULT_BACKEND = "lean"
DEFAULT_ADJOINT_NORM = "full"
#: The ``solver`` section of a config that has none.
DEFAULT_SOLVER: dict[str, str] = {"backend": DEFAULT_BACKEND, "adjoint_norm": DEFAULT_ADJOINT_NORM}

#: Backends with joint step-size control, in table order.
JOINT_BACKENDS: tuple[str, ...] = tuple(n for n, b in BACKENDS.items() if b.joint_step_control)
#: Backends a run may train with, in table order.
TRAINING_BACKENDS: tuple[str, ...] = tuple(n for n, b in BACKENDS.items() if b.trains)
