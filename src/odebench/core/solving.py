"""Solving an ODE block: backends, gradient modes, NFE counting, step budgets.

The public surface is :func:`integrate`, the pipeline's one call into an ODE
solver library; :class:`ODEBlock`, which integrates a dynamics module over
``t in [0, 1]`` and counts how often the dynamics are called; and three registries
that map a config string to what it selects:

- :data:`GRADIENT_MODES`: how the gradient is produced.
  ``adjoint``: the forward solve keeps no graph and the backward pass solves the
  adjoint ODE (the paper's ODE-Net, O(1) memory). ``direct``: autograd records
  every solver operation (the paper's RK-Net, memory O(L~) in the number of
  function evaluations).
- :data:`ADJOINT_NORMS`: the error norm of the adjoint's backward solve. ``full``:
  torchdiffeq's default, the largest RMS norm of the state, its adjoint and the
  parameters' adjoints. ``seminorm``: the same without the parameters' adjoints
  (Kidger, Chen & Lyons, ICML 2021), which accepts larger backward steps.
- :data:`BACKENDS`: which code takes the steps. ``torchdiffeq``: the library as
  published. ``lean`` (the default): torchdiffeq with the same methods registered
  from :mod:`odebench.core.lean_rk`, which take the same steps with less
  bookkeeping. ``torchode``: torchode's solvers (:mod:`odebench.core.torchode_backend`),
  whose step-size control is per sample, not joint over the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint
from torchdiffeq._impl.odeint import SOLVERS as _TORCHDIFFEQ_SOLVERS
from torchdiffeq._impl.solvers import FixedGridODESolver

from odebench.core import backends as specs
from odebench.core.backends import StepBudgetExceeded
from odebench.core.lean_rk import PREFIX as _LEAN_PREFIX
from odebench.core.lean_rk import lean_method

#: Solver names of torchdiffeq 0.2.5 (``dopri5``, ``bosh3``, ``rk4``, ...), without the
#: ``lean_`` variants that :mod:`odebench.core.lean_rk` registers beside them.
SOLVERS: tuple[str, ...] = tuple(
    sorted(m for m in _TORCHDIFFEQ_SOLVERS if not m.startswith(_LEAN_PREFIX))
)

GRADIENT_MODES: dict[str, Callable[..., torch.Tensor]] = {
    "adjoint": odeint_adjoint,
    "direct": odeint,
}

#: Adjoint error norm -> torchdiffeq's ``adjoint_options`` for a solve with ``options``
#: (None: torchdiffeq's default).
ADJOINT_NORMS: dict[str, Callable[[dict], dict | None]] = {
    "full": lambda options: None,
    "seminorm": lambda options: {**options, "norm": "seminorm"},
}


def _torchdiffeq_solve(lean: bool) -> Callable[..., Any]:
    def solve(dynamics, h, t, *, method, tol, options, gradient, adjoint_norm, **kwargs):
        name = lean_method(method) if lean else method
        if lean and gradient == "adjoint" and not torch.is_grad_enabled():
            # No graph, so no backward solve: odeint_adjoint's forward is odeint under
            # no_grad, minus its per-solve bookkeeping (a second input check, the
            # parameter search, an autograd Function).
            gradient = "direct"
            kwargs = {k: v for k, v in kwargs.items() if not k.startswith("adjoint_")}
        if gradient == "adjoint":
            adjoint_options = ADJOINT_NORMS[adjoint_norm](options)
            if adjoint_options is not None:
                kwargs.setdefault("adjoint_options", adjoint_options)
        return GRADIENT_MODES[gradient](
            dynamics, h, t, rtol=tol, atol=tol, method=name, options=options, **kwargs
        )

    return solve


def _torchode_solve(*args: Any, **kwargs: Any) -> Any:
    from odebench.core.torchode_backend import solve  # torchode loads only when asked for

    return solve(*args, **kwargs)


@dataclass(frozen=True)
class Backend:
    """An ODE solver library behind :func:`integrate`.

    ``solve(dynamics, h, t, *, method, tol, options, gradient, adjoint_norm, **kwargs)``
    returns the states at every time of ``t`` (time first), as ``torchdiffeq.odeint`` does.
    """

    description: str
    solve: Callable[..., Any]


#: Backend name -> the code that takes its steps; what each is lives in
#: :data:`odebench.core.backends.BACKENDS`.
_SOLVES: dict[str, Callable[..., Any]] = {
    "torchdiffeq": _torchdiffeq_solve(lean=False),
    "lean": _torchdiffeq_solve(lean=True),
    "torchode": _torchode_solve,
}
if set(_SOLVES) != set(specs.BACKENDS) or set(ADJOINT_NORMS) != set(specs.ADJOINT_NORMS):
    raise ImportError(
        "odebench.core.solving and odebench.core.backends list different backends or "
        f"norms: {sorted(_SOLVES)} / {sorted(specs.BACKENDS)}, "
        f"{sorted(ADJOINT_NORMS)} / {sorted(specs.ADJOINT_NORMS)}"
    )

#: Backend name -> backend, in the table's order. Every experiment's config names one
#: (``solver.backend``).
BACKENDS: dict[str, Backend] = {
    name: Backend(spec.description, _SOLVES[name]) for name, spec in specs.BACKENDS.items()
}


def supports(backend: str, method: str) -> bool:
    """Whether solver ``backend`` offers ``method`` (its ``methods`` in
    :data:`odebench.core.backends.BACKENDS`; None: every method of :data:`SOLVERS`)."""
    _check_choice("solver backend", backend, BACKENDS)
    methods = specs.BACKENDS[backend].methods
    return method in (SOLVERS if methods is None else methods)


DEFAULT_BACKEND = specs.DEFAULT_BACKEND
DEFAULT_ADJOINT_NORM = specs.DEFAULT_ADJOINT_NORM

#: Fixed-grid methods take ``step_size`` instead of tolerances (torchdiffeq's
#: FixedGridODESolver subclasses, its Adams-Bashforth-Moulton among them).
FIXED_GRID_SOLVERS = frozenset(
    name for name in SOLVERS if isinstance(_TORCHDIFFEQ_SOLVERS[name], type)
    and issubclass(_TORCHDIFFEQ_SOLVERS[name], FixedGridODESolver)
)  # fmt: skip


class CountedDynamics(nn.Module):
    """Wraps a dynamics module ``f(t, h)`` and counts its calls.

    ``nfe`` counts every call, in the forward solve and, for the adjoint, in the
    backward solve; callers read it before and after ``backward()`` to split
    forward from backward NFE. The count is a plain attribute, and calling the
    wrapper runs ``forward`` directly: ``nn.Module``'s own ``__setattr__`` and
    ``__call__`` (hook dispatch) cost microseconds a call, which small dynamics
    notice. Hooks registered on the wrapper itself therefore do not run; hooks on
    the wrapped module do.
    """

    #: Attributes kept as plain attributes, not through ``nn.Module.__setattr__``.
    PLAIN_ATTRIBUTES: frozenset[str] = frozenset({"nfe"})

    def __init__(self, func: nn.Module):
        super().__init__()
        self.func = func
        self.nfe = 0

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.PLAIN_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        object.__setattr__(self, "nfe", self.nfe + 1)
        return self.func(t, h)

    def __call__(self, t: torch.Tensor, h: Any) -> Any:
        return self.forward(t, h)


class ODEBlock(nn.Module):
    """Integrates ``dh/dt = f(t, h)`` from t=0 to t=1 and returns h(1).

    Arguments:
        func: the dynamics module ``f(t, h)``.
        tol: rtol = atol for adaptive solvers (the paper used 1e-3 for MNIST).
        method: a torchdiffeq solver name, see :data:`SOLVERS`.
        gradient: a key of :data:`GRADIENT_MODES`.
        backend: a key of :data:`BACKENDS`.
        adjoint_norm: a key of :data:`ADJOINT_NORMS` (the adjoint's backward solve).
        step_size: step for fixed-grid methods (ignored by adaptive ones).
        max_num_steps: step budget of adaptive solvers; exceeding it raises
            :class:`StepBudgetExceeded` so a run can record why it stopped
            instead of stalling.
    """

    def __init__(
        self,
        func: nn.Module,
        *,
        tol: float = 1e-3,
        method: str = "dopri5",
        gradient: str = "adjoint",
        backend: str = DEFAULT_BACKEND,
        adjoint_norm: str = DEFAULT_ADJOINT_NORM,
        step_size: float | None = None,
        max_num_steps: int = 10_000,
    ):
        super().__init__()
        if method not in SOLVERS:
            raise ValueError(f"unknown solver {method!r}; known: {', '.join(SOLVERS)}")
        _check_choice("gradient mode", gradient, GRADIENT_MODES)
        _check_choice("solver backend", backend, BACKENDS)
        _check_choice("adjoint norm", adjoint_norm, ADJOINT_NORMS)
        self.dynamics = CountedDynamics(func)
        self.tol = float(tol)
        self.method = method
        self.gradient = gradient
        self.backend = backend
        self.adjoint_norm = adjoint_norm
        if method in FIXED_GRID_SOLVERS:
            self.options = {"step_size": 1.0 if step_size is None else float(step_size)}
        else:
            self.options = {"max_num_steps": int(max_num_steps)}
        self.register_buffer("t_span", torch.tensor([0.0, 1.0]), persistent=False)

    @property
    def nfe(self) -> int:
        return self.dynamics.nfe

    @nfe.setter
    def nfe(self, value: int) -> None:
        self.dynamics.nfe = value

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return integrate(
            self.dynamics,
            h,
            self.t_span.to(h),
            method=self.method,
            tol=self.tol,
            options=self.options,
            gradient=self.gradient,
            backend=self.backend,
            adjoint_norm=self.adjoint_norm,
        )


def _check_choice(what: str, value: str, known: dict) -> None:
    if value not in known:
        raise ValueError(f"unknown {what} {value!r}; known: {', '.join(known)}")


def solver_keys(cfg: Any) -> dict[str, str]:
    """``backend`` and ``adjoint_norm`` of a run config, the defaults where it has none.

    Every config the pipeline builds carries both (the run families' ``run_config``);
    runs recorded before the keys existed ran plain torchdiffeq with the full norm,
    and their weights, rebuilt from such a config, solve with the defaults."""
    return {
        "backend": str(cfg.get("backend", DEFAULT_BACKEND)),
        "adjoint_norm": str(cfg.get("adjoint_norm", DEFAULT_ADJOINT_NORM)),
    }


def solver_options(method: str, steps: int | None = None, max_num_steps: int = 10_000) -> dict:
    """torchdiffeq options: step size 1/``steps`` for fixed-grid methods, else a step budget."""
    if method in FIXED_GRID_SOLVERS:
        return {"step_size": 1.0 / (1 if steps is None else int(steps))}
    return {"max_num_steps": int(max_num_steps)}


def solver_setting(method: str, value: float, max_num_steps: int = 10_000) -> tuple[float, dict]:
    """(tol, options) of one sweep value: a tolerance for adaptive methods, a step count
    for fixed-grid ones (whose tolerance torchdiffeq ignores)."""
    if method in FIXED_GRID_SOLVERS:
        return 1e-3, solver_options(method, int(value))
    return float(value), solver_options(method, None, max_num_steps)


def integrate(
    dynamics: nn.Module,
    h: torch.Tensor | tuple[torch.Tensor, ...],
    t: torch.Tensor,
    *,
    method: str,
    tol: float,
    options: dict,
    gradient: str = "direct",
    backend: str = DEFAULT_BACKEND,
    adjoint_norm: str = DEFAULT_ADJOINT_NORM,
    trajectory: bool = False,
    **kwargs: Any,
) -> Any:
    """Solve ``dh/dt = dynamics(t, h)`` over the times ``t`` and return the state at ``t[-1]``.

    ``h`` may be a tuple of tensors (e.g. a CNF's ``(z, log p)``); so is the result.
    With ``trajectory`` the states at every time of ``t`` come back (time first).

    The one place that calls an ODE solver library (``backend``, see :data:`BACKENDS`),
    so every experiment shares the same tolerance convention (rtol = atol = ``tol``)
    and the same step-budget error. ``adjoint_norm`` (see :data:`ADJOINT_NORMS`)
    applies to ``gradient="adjoint"`` only. ``kwargs`` go to the solve function
    (e.g. ``adjoint_params`` of the adjoint).
    """
    _check_choice("gradient mode", gradient, GRADIENT_MODES)
    _check_choice("solver backend", backend, BACKENDS)
    _check_choice("adjoint norm", adjoint_norm, ADJOINT_NORMS)
    solve = BACKENDS[backend].solve
    try:
        out = solve(
            dynamics, h, t, method=method, tol=tol, options=options, gradient=gradient,
            adjoint_norm=adjoint_norm, **kwargs,
        )  # fmt: skip
    except AssertionError as err:  # torchdiffeq signals its step budget by assert
        if "max_num_steps" in str(err):
            raise StepBudgetExceeded(str(err)) from err
        raise
    if trajectory:
        return out
    return tuple(o[-1] for o in out) if isinstance(out, tuple) else out[-1]


def ode_blocks(model: nn.Module) -> list[ODEBlock]:
    """All ODE blocks inside ``model`` (empty for ResNets and MLPs)."""
    return [m for m in model.modules() if isinstance(m, ODEBlock)]


def _counters(model: nn.Module) -> list[CountedDynamics]:
    return [m for m in model.modules() if isinstance(m, CountedDynamics)]


def reset_nfe(model: nn.Module) -> None:
    """Zero the evaluation counters of every counted dynamics inside ``model``."""
    for counter in _counters(model):
        counter.nfe = 0


def total_nfe(model: nn.Module) -> int:
    """Evaluations of every counted dynamics inside ``model`` (ODE blocks, latent ODEs)."""
    return sum(counter.nfe for counter in _counters(model))
