"""Solving an ODE block: gradient modes, NFE counting, step budgets.

The public surface is :class:`ODEBlock`, which integrates a dynamics module over
``t in [0, 1]`` and counts how often the dynamics are called, and the registry
:data:`GRADIENT_MODES` that maps a config string to the torchdiffeq function that
produces the gradient:

- ``adjoint``: ``torchdiffeq.odeint_adjoint``; the forward solve keeps no graph and
  the backward pass solves the adjoint ODE (the paper's ODE-Net, O(1) memory).
- ``direct``: ``torchdiffeq.odeint``; autograd records every solver operation
  (the paper's RK-Net, memory O(L~) in the number of function evaluations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint
from torchdiffeq._impl.odeint import SOLVERS as _TORCHDIFFEQ_SOLVERS

GRADIENT_MODES: dict[str, Callable[..., torch.Tensor]] = {
    "adjoint": odeint_adjoint,
    "direct": odeint,
}

#: Solver names accepted by torchdiffeq 0.2.5 (``dopri5``, ``bosh3``, ``rk4``, ...).
SOLVERS: tuple[str, ...] = tuple(sorted(_TORCHDIFFEQ_SOLVERS))

#: Fixed-grid methods take ``step_size`` instead of tolerances.
FIXED_GRID_SOLVERS = frozenset({"euler", "midpoint", "rk4", "explicit_adams", "implicit_adams"})


class StepBudgetExceeded(RuntimeError):
    """The adaptive solver needed more steps than the configured budget allows."""


class CountedDynamics(nn.Module):
    """Wraps a dynamics module ``f(t, h)`` and counts its calls.

    ``nfe`` counts every call, in the forward solve and, for the adjoint, in the
    backward solve; callers read it before and after ``backward()`` to split
    forward from backward NFE.
    """

    def __init__(self, func: nn.Module):
        super().__init__()
        self.func = func
        self.nfe = 0

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.func(t, h)


class ODEBlock(nn.Module):
    """Integrates ``dh/dt = f(t, h)`` from t=0 to t=1 and returns h(1).

    Arguments:
        func: the dynamics module ``f(t, h)``.
        tol: rtol = atol for adaptive solvers (the paper used 1e-3 for MNIST).
        method: a torchdiffeq solver name, see :data:`SOLVERS`.
        gradient: a key of :data:`GRADIENT_MODES`.
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
        step_size: float | None = None,
        max_num_steps: int = 10_000,
    ):
        super().__init__()
        if method not in _TORCHDIFFEQ_SOLVERS:
            raise ValueError(f"unknown solver {method!r}; known: {', '.join(SOLVERS)}")
        if gradient not in GRADIENT_MODES:
            raise ValueError(
                f"unknown gradient mode {gradient!r}; known: {', '.join(GRADIENT_MODES)}"
            )
        self.dynamics = CountedDynamics(func)
        self.tol = float(tol)
        self.method = method
        self.gradient = gradient
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
        )


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
    trajectory: bool = False,
    **kwargs: Any,
) -> Any:
    """Solve ``dh/dt = dynamics(t, h)`` over the times ``t`` and return the state at ``t[-1]``.

    ``h`` may be a tuple of tensors (e.g. a CNF's ``(z, log p)``); so is the result.
    With ``trajectory`` the states at every time of ``t`` come back (time first).

    The one place that calls torchdiffeq, so every experiment shares the same
    tolerance convention (rtol = atol = ``tol``) and the same step-budget error.
    ``kwargs`` go to the solve function (e.g. ``adjoint_params`` of the adjoint).
    """
    solve = GRADIENT_MODES[gradient]
    try:
        out = solve(dynamics, h, t, rtol=tol, atol=tol, method=method, options=options, **kwargs)
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
