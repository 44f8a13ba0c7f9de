"""torchdiffeq's adaptive Runge-Kutta solvers with less bookkeeping per step.

The same methods, registered in torchdiffeq's own solver registry under
``lean_<name>`` (``lean_dopri5``, ``lean_bosh3``, ...), so ``odeint`` and
``odeint_adjoint`` (whose backward solve uses the same method) run them unchanged.
Each class subclasses torchdiffeq's solver and keeps its tableau, its initial
step selection, its error norm (the joint RMS norm, the adjoint's mixed norm or
the seminorm), its accept/reject rule and its step-size controller: only how a
step's arithmetic is laid out changes. :mod:`tests.core.test_lean_rk` checks
them against torchdiffeq step for step: the same accepted and rejected steps,
the same number of function evaluations, and states equal up to rounding.

What a step no longer does, per step of ``s`` stages on a state of ``n`` numbers:

- stages are a list, and every stage state is one ``add`` chain
  ``y0 + h b_0 k_0 + h b_1 k_1 + ...`` with the coefficients as host scalars,
  instead of a ``(n, s + 1)`` stage tensor whose stride-``s`` slices are
  multiplied and summed (a temporary of ``i n`` numbers per stage);
- no ``y.abs()`` per function evaluation (torchdiffeq's perturbation wrapper
  computes it to read a dtype) and none per step;
- the dense-output polynomial is fitted only for the step that is read (the
  last one of a solve to t = 1), not for every accepted step.

A step falls back to torchdiffeq's own code whenever its shortcuts might not be
exact: when the step size carries a gradient (the direct mode's first step,
whose size torchdiffeq derives from the state), when ``step_t``/``jump_t`` grid
points are set, and for event handling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchdiffeq._impl.interp import _interp_evaluate, _interp_fit
from torchdiffeq._impl.misc import (
    Perturb,
    _nextafter,
    _optimal_step_size,
    _PerturbFunc,
)
from torchdiffeq._impl.odeint import SOLVERS
from torchdiffeq._impl.rk_common import RKAdaptiveStepsizeODESolver, _RungeKuttaState

PREFIX = "lean_"

#: State dtypes the lean step handles; others take torchdiffeq's own step.
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


class _Unfitted:
    """A step whose dense output has not been fitted yet: what fitting needs."""

    __slots__ = ("y0", "y1", "stages", "dt")

    def __init__(self, y0: torch.Tensor, y1: torch.Tensor, stages: list, dt: torch.Tensor):
        self.y0, self.y1, self.stages, self.dt = y0, y1, stages, dt


def _combine(base: torch.Tensor | None, stages: list, coefficients: list[float]) -> torch.Tensor:
    """``base + sum_j c_j k_j`` (``base`` None: no base), skipping zero coefficients."""
    out = base
    for k, c in zip(stages, coefficients):
        if c == 0.0:
            continue
        out = k * c if out is None else (torch.add(out, k, alpha=c) if out is base else out.add_(k, alpha=c))
    return torch.zeros_like(stages[0]) if out is None else out


class LeanRK(RKAdaptiveStepsizeODESolver):
    """Mixin over a torchdiffeq adaptive RK solver class; see the module docstring."""

    def __init__(self, func, y0, rtol, atol, **kwargs):
        super().__init__(func, y0, rtol, atol, **kwargs)
        tableau = self.tableau
        # Coefficients in the state's precision, multiplied by the step in that precision,
        # as torchdiffeq does (its tableau is cast to y0.dtype, dt to y0's dtype).
        self._np_dtype = _NUMPY_DTYPES.get(y0.dtype, np.float32)
        cast = lambda v: np.asarray(v.detach().cpu().double().numpy(), dtype=self._np_dtype)  # noqa: E731
        self._beta = [cast(b) for b in tableau.beta]
        self._c_sol = cast(tableau.c_sol)
        self._c_error = cast(tableau.c_error)
        self._mid = cast(self.mid)
        self._alpha_is_one = [bool(a == 1.0) for a in tableau.alpha.tolist()]
        self._fsal = bool(tableau.c_sol[-1] == 0 and (tableau.c_sol[:-1] == tableau.beta[-1]).all())
        # The undecorated dynamics: torchdiffeq's _PerturbFunc only casts t and nudges it.
        self._base = func.base_func if isinstance(func, _PerturbFunc) else None
        self._lean_ok = self._base is not None and y0.dtype in _NUMPY_DTYPES

    # -- function evaluation without the wrapper's y.abs() --------------------------------
    def _evaluate(self, t: torch.Tensor, y: torch.Tensor, previous: bool) -> torch.Tensor:
        t = t.to(y.dtype)
        if previous:
            t = _nextafter(t, t - 1)
        return self._base(t, y)

    # -- stepping --------------------------------------------------------------------------
    def _lean_applicable(self, dt: torch.Tensor) -> bool:
        return (
            self._lean_ok
            and not dt.requires_grad
            and len(self.step_t) == 0
            and len(self.jump_t) == 0
        )

    def _adaptive_step(self, rk_state):
        y0, f0, _, t0, dt, interp_coeff = rk_state
        if not torch.isfinite(dt):
            dt = self.min_step
        dt = dt.clamp(self.min_step, self.max_step)
        if not self._lean_applicable(dt):
            return super()._adaptive_step(
                _RungeKuttaState(y0, f0, rk_state.t0, t0, rk_state.dt, self._fitted(rk_state))
            )
        self.func.callback_step(t0, y0, dt)
        t1 = t0 + dt
        assert t0 + dt > t0, "underflow in dt {}".format(dt.item())
        assert torch.isfinite(y0).all(), "non-finite values in state `y`: {}".format(y0)

        y1, f1, stages = self._rk_step(y0, f0, t0, dt, t1)
        with torch.no_grad():  # torchdiffeq lets no gradient flow through the error ratio either
            h = self._np_dtype(dt.item())
            y1_error = _combine(None, stages, (self._c_error * h).tolist())
            error_tol = torch.maximum(y0.abs(), y1.abs()).mul_(self.rtol).add_(self.atol)
            error_ratio = self.norm(y1_error.div_(error_tol)).abs()
        accept_step = error_ratio <= 1
        if dt > self.max_step:
            accept_step = False
        if dt <= self.min_step:
            accept_step = True

        if accept_step:
            self.func.callback_accept_step(t0, y0, dt)
            t_next, y_next, f_next = t1, y1, f1
            interp_coeff = _Unfitted(y0, y1, stages, dt)
        else:
            self.func.callback_reject_step(t0, y0, dt)
            t_next, y_next, f_next = t0, y0, f0
        dt_next = _optimal_step_size(dt, error_ratio, self.safety, self.ifactor, self.dfactor, self.order)
        dt_next = dt_next.clamp(self.min_step, self.max_step)
        return _RungeKuttaState(y_next, f_next, t0, t_next, dt_next, interp_coeff)

    def _rk_step(self, y0, f0, t0, dt, t1):
        """One RK step: (y1, f1, stages), as torchdiffeq's _runge_kutta_step."""
        t_dtype = y0.dtype
        t0_, dt_, t1_ = t0.to(t_dtype), dt.to(t_dtype), t1.to(t_dtype)
        h = self._np_dtype(dt.item())  # torchdiffeq: coefficient x dt in the state's dtype
        stages = [f0]
        yi = y0
        for i, alpha_i in enumerate(self.tableau.alpha):
            yi = _combine(y0, stages, (self._beta[i] * h).tolist())
            if self._alpha_is_one[i]:
                stages.append(self._evaluate(t1_, yi, previous=True))
            else:
                stages.append(self._evaluate(t0_ + alpha_i * dt_, yi, previous=False))
        if not self._fsal:
            yi = _combine(y0, stages, (self._c_sol * h).tolist())
        return yi, stages[-1], stages

    # -- dense output, fitted only where read ----------------------------------------------
    def _fitted(self, rk_state) -> Any:
        coeff = rk_state.interp_coeff
        if not isinstance(coeff, _Unfitted):
            return coeff
        dt = coeff.dt.type_as(coeff.y0)
        h = self._np_dtype(dt.item())
        y_mid = _combine(coeff.y0, coeff.stages, (self._mid * h).tolist())
        return _interp_fit(coeff.y0, coeff.y1, y_mid, coeff.stages[0], coeff.stages[-1], dt)

    def _advance(self, next_t):
        n_steps = 0
        while next_t > self.rk_state.t1:
            assert n_steps < self.max_num_steps, "max_num_steps exceeded ({}>={})".format(
                n_steps, self.max_num_steps
            )
            self.rk_state = self._adaptive_step(self.rk_state)
            n_steps += 1
        self.rk_state = self.rk_state._replace(interp_coeff=self._fitted(self.rk_state))
        return _interp_evaluate(self.rk_state.interp_coeff, self.rk_state.t0, self.rk_state.t1, next_t)

    def _advance_until_event(self, event_fn):
        self._lean_ok = False  # events read every step's dense output: torchdiffeq's own path
        return super()._advance_until_event(event_fn)


def _lean_class(name: str, solver: type) -> type:
    return type(f"Lean{solver.__name__}", (LeanRK, solver), {"__doc__": f"Lean {name}, see {__name__}."})


#: torchdiffeq method name -> its lean class, for every adaptive RK method.
LEAN_SOLVERS: dict[str, type] = {
    name: _lean_class(name, solver)
    for name, solver in sorted(SOLVERS.items())
    if isinstance(solver, type) and issubclass(solver, RKAdaptiveStepsizeODESolver)
}

for _name, _solver in LEAN_SOLVERS.items():
    SOLVERS.setdefault(PREFIX + _name, _solver)


def lean_method(method: str) -> str:
    """The registered lean name of ``method``, or ``method`` itself where none exists."""
    return PREFIX + method if method in LEAN_SOLVERS else method
