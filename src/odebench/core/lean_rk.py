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
  computes it to read a dtype), and the error tolerance's ``|y1|`` of an accepted
  step reused as the next step's ``|y0|``;
- the dense-output polynomial is fitted only for the step that is read (the
  last one of a solve to t = 1), not for every accepted step;
- the scalar step-size arithmetic (stage times, clamping, the accept rule, the
  controller's new step) runs on host floats of the same precision as
  torchdiffeq's scalar tensors (float64 for times and steps, the state's dtype for
  stage times), instead of a dozen 0-dim tensor operations per step.

A step falls back to torchdiffeq's own code whenever its shortcuts might not be
exact: when the step size carries a gradient (the direct mode's first step,
whose size torchdiffeq derives from the state), when ``step_t``/``jump_t`` grid
points or step callbacks are set, for states other than float32/float64, and
for event handling.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torchdiffeq._impl.interp import _interp_evaluate, _interp_fit
from torchdiffeq._impl.misc import (
    _all_callback_names,
    _nextafter,
    _null_callback,
    _PerturbFunc,
    _rms_norm,
    _select_initial_step,
)
from torchdiffeq._impl.odeint import SOLVERS
from torchdiffeq._impl.rk_common import RKAdaptiveStepsizeODESolver, _RungeKuttaState

PREFIX = "lean_"

#: State dtypes the lean step handles; others take torchdiffeq's own step.
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


class _Unfitted:
    """A step whose dense output has not been fitted yet: what fitting needs."""

    __slots__ = ("y0", "y1", "stages", "dt")

    def __init__(self, y0: torch.Tensor, y1: torch.Tensor, stages: list, dt: float):
        self.y0, self.y1, self.stages, self.dt = y0, y1, stages, dt


def _combine(
    base: torch.Tensor | None, stages: list, coefficients: list[float], in_place: bool = False
) -> torch.Tensor:
    """``base + sum_j c_j k_j`` (``base`` None: no base), skipping zero coefficients.

    ``base`` is added to in place only with ``in_place`` (a temporary of the caller's)."""
    out = base
    for k, c in zip(stages, coefficients, strict=True):
        if c == 0.0:
            continue
        if out is None:
            out = k * c
        elif out is base and not in_place:
            out = torch.add(base, k, alpha=c)
        else:
            out.add_(k, alpha=c)
    return torch.zeros_like(stages[0]) if out is None else out


def _rms(x: torch.Tensor) -> float:
    """torchdiffeq's ``_rms_norm`` up to rounding: the root mean square of ``x``, as a float
    (the 1/sqrt(n) scaling on the host)."""
    return float(torch.linalg.vector_norm(x)) * x.numel() ** -0.5


def _finite(y: torch.Tensor) -> bool:
    """``torch.isfinite(y).all()``: one sum decides unless it overflows or is not finite."""
    return math.isfinite(float(y.detach().sum())) or bool(torch.isfinite(y).all())


def _as_float(v: Any) -> float:
    return float(v.detach()) if torch.is_tensor(v) else float(v)


def _clamp(x: float, low: float, high: float) -> float:
    """``torch.clamp`` on a float: NaN stays NaN."""
    return x if math.isnan(x) else min(max(x, low), high)


class LeanRK(RKAdaptiveStepsizeODESolver):
    """Mixin over a torchdiffeq adaptive RK solver class; see the module docstring."""

    _coefficients: dict = {}  # (class, numpy dtype) -> coefficient arrays, shared by solves

    _tableaus: dict = {}  # (class, dtype, device) -> the tableau and mid torchdiffeq would cast

    def __init__(self, func, y0, rtol, atol, **kwargs):
        # torchdiffeq casts its tableau to the state's dtype and device on every solve; hand it
        # the cast it would make (a cast to the same dtype and device copies nothing).
        key = (type(self), y0.dtype, y0.device)
        if key not in LeanRK._tableaus:
            LeanRK._tableaus[key] = self._cast_tableau(y0)
        self.tableau, self.mid = LeanRK._tableaus[key]
        super().__init__(func, y0, rtol, atol, **kwargs)
        self._np_dtype = _NUMPY_DTYPES.get(y0.dtype)
        callbacks = [getattr(func, name, _null_callback) for name in _all_callback_names]
        # The undecorated dynamics: torchdiffeq's _PerturbFunc only casts t and nudges it.
        self._base = func.base_func if isinstance(func, _PerturbFunc) else None
        self._lean_ok = (
            self._base is not None
            and self._np_dtype is not None
            and self.dtype == torch.float64  # times and steps: the host floats' precision
            and self.rtol.numel() == 1  # scalar tolerances (per-element ones: torchdiffeq's)
            and self.atol.numel() == 1
            and all(c is _null_callback for c in callbacks)
        )
        if not self._lean_ok:
            return
        key = (type(self), self._np_dtype)
        if key not in LeanRK._coefficients:
            # In the state's precision, as torchdiffeq casts its tableau to y0.dtype.
            cast = lambda v: np.asarray(v.double().numpy(), dtype=self._np_dtype)  # noqa: E731
            tableau = type(self).tableau
            LeanRK._coefficients[key] = (
                [cast(b) for b in tableau.beta],
                cast(tableau.c_sol),
                cast(tableau.c_error),
                cast(type(self).mid),
                cast(tableau.alpha),
                [bool(a == 1.0) for a in tableau.alpha.tolist()],
                bool(tableau.c_sol[-1] == 0 and (tableau.c_sol[:-1] == tableau.beta[-1]).all()),
            )
        (self._beta, self._c_sol, self._c_error, self._mid, self._alpha, self._alpha_is_one,
         self._fsal) = LeanRK._coefficients[key]  # fmt: skip
        # Scalar tolerances as floats: a 0-dim float64 tensor is cast anew by every operation
        # (atol also as a 0-dim tensor of the state's dtype, the base of one fused add).
        self._rtol, self._atol = float(self.rtol), float(self.atol)
        # torchdiffeq's default RMS norm as one reduction (abs().pow(2).mean().sqrt() is four).
        # The norm's value as a float in the state's precision (torchdiffeq's is a 0-dim
        # tensor of that dtype).
        norm = _rms if self.norm is _rms_norm else lambda x: float(self.norm(x).abs())
        self._norm = lambda x: float(self._np_dtype(norm(x)))
        # |y1| of the last accepted step, which is |y0| of the next: (y1, |y1|).
        self._abs = (None, None)
        self._atol_t = torch.tensor(self._atol, dtype=y0.dtype, device=y0.device)
        # Every row of the step's coefficients (stages, solution, error) in one array,
        # multiplied by the step size once per step.
        self._rows = np.zeros((len(self._beta) + 2, len(self._beta) + 1), dtype=self._np_dtype)
        for i, row in enumerate((*self._beta, self._c_sol, self._c_error)):
            self._rows[i, : len(row)] = row
        self._floats = {
            name: float(getattr(self, name))
            for name in ("min_step", "max_step", "safety", "ifactor", "dfactor")
        }

    @classmethod
    def _cast_tableau(cls, y0: torch.Tensor) -> tuple:
        """The tableau and ``mid`` in ``y0``'s dtype and device, made outside inference mode:
        they are shared by every later solve, and torchdiffeq's own step (the direct mode's
        first) uses them in autograd, which refuses inference tensors."""
        with torch.inference_mode(False):
            tableau = cls.tableau
            cast = lambda v: v.to(device=y0.device, dtype=y0.dtype).clone()  # noqa: E731
            return (
                tableau._replace(alpha=cast(tableau.alpha), beta=[cast(b) for b in tableau.beta],
                                 c_sol=cast(tableau.c_sol), c_error=cast(tableau.c_error)),
                cast(cls.mid),
            )  # fmt: skip

    # -- the start of a solve, without step_t/jump_t bookkeeping when there is none ----------
    def _before_integrate(self, t):
        if self.step_t is not None or self.jump_t is not None:
            return super()._before_integrate(t)
        # With a graph, torchdiffeq's first step size depends on the state and the
        # parameters, and so does every later time: its own code computes it then.
        graph = torch.is_grad_enabled()
        if self._lean_ok and not graph:
            f0 = self._base(t[0].to(self.y0.dtype), self.y0)
        else:
            f0 = self.func(t[0], self.y0)
        if self.first_step is not None:
            first_step = self.first_step
        elif self._lean_ok and not graph:
            first_step = self._initial_step(float(t[0]), f0)
        else:
            first_step = _select_initial_step(
                self.func, t[0], self.y0, self.order - 1, self.rtol, self.atol, self.norm, f0=f0
            )
        self.rk_state = _RungeKuttaState(self.y0, f0, t[0], t[0], first_step, [self.y0] * 5)
        self.step_t = torch.empty(0, dtype=self.dtype, device=self.y0.device)
        self.jump_t = torch.empty(0, dtype=self.dtype, device=self.y0.device)
        self.next_step_index = self.next_jump_index = -1  # what torchdiffeq computes for none

    def _initial_step(self, t0: float, f0: torch.Tensor) -> float:
        """torchdiffeq's ``_select_initial_step`` (Hairer, Norsett & Wanner II.4) with its
        scalars on the host, in the state's precision as torchdiffeq's 0-dim tensors are."""
        cast, y0, order = self._np_dtype, self.y0, self.order - 1
        scale = y0.abs().mul_(self._rtol).add_(self._atol)
        d0 = cast(self._norm(y0 / scale))
        d1 = cast(self._norm(f0 / scale))
        h0 = cast(1e-6) if d0 < 1e-5 or d1 < 1e-5 else cast(0.01) * d0 / d1
        h0 = abs(h0)
        y1 = torch.add(y0, f0, alpha=float(h0))
        t = torch.full((), cast(t0 + float(h0)), dtype=y0.dtype, device=y0.device)
        f1 = self._base(t, y1)
        d2 = abs(cast(self._norm((f1 - f0).div_(scale))) / h0)
        if d1 <= 1e-15 and d2 <= 1e-15:
            h1 = max(cast(1e-6), h0 * cast(1e-3))
        else:
            h1 = (cast(0.01) / max(d1, d2)) ** cast(1.0 / float(order + 1))
        h1 = abs(h1)
        if math.isnan(h0) or math.isnan(h1):  # torch.min propagates NaN
            return math.nan
        return float(min(cast(100) * h0, h1))

    # -- stepping ----------------------------------------------------------------------------
    def _adaptive_step(self, rk_state):
        dt = rk_state.dt
        if not (self._lean_ok and len(self.step_t) == 0 and len(self.jump_t) == 0) or (
            torch.is_tensor(dt) and dt.requires_grad
        ):
            return super()._adaptive_step(self._tensor_state(rk_state))
        y0, f0, _, t0, dt, _ = rk_state
        # In the direct mode torchdiffeq's times carry a gradient after the first step (its
        # size depends on the state): such times stay tensors, as do their stage times.
        timed = torch.is_tensor(t0) and t0.requires_grad
        t0f, dt = float(t0.detach() if torch.is_tensor(t0) else t0), float(dt)
        c = self._floats
        if not math.isfinite(dt):
            dt = c["min_step"]
        dt = _clamp(dt, c["min_step"], c["max_step"])
        t1f = t0f + dt
        assert t1f > t0f, f"underflow in dt {dt}"
        assert _finite(y0), f"non-finite values in state `y`: {y0}"
        t0, t1 = (t0, t0 + dt) if timed else (t0f, t1f)

        h = self._np_dtype(dt)  # torchdiffeq: coefficient x dt in the state's dtype
        rows = (self._rows * h).tolist()
        y1, f1, stages = self._rk_step(y0, f0, t0, h, t1, rows)
        with torch.no_grad():  # no gradient flows through the error ratio in torchdiffeq either
            y1_error = _combine(None, stages, rows[-1])
            abs0 = self._abs[1] if self._abs[0] is y0 else y0.abs()
            abs1 = y1.abs()
            error_tol = torch.add(self._atol_t, torch.maximum(abs0, abs1), alpha=self._rtol)
            error_ratio = self._norm(y1_error.div_(error_tol))
        accept_step = error_ratio <= 1
        if dt > c["max_step"]:
            accept_step = False
        if dt <= c["min_step"]:
            accept_step = True

        if accept_step:
            self._abs = (y1, abs1)
            rk_state = _RungeKuttaState(y1, f1, t0, t1, None, _Unfitted(y0, y1, stages, dt))
        else:
            rk_state = _RungeKuttaState(y0, f0, t0, t0, None, rk_state.interp_coeff)
        dt_next = _clamp(self._optimal_step_size(dt, error_ratio), c["min_step"], c["max_step"])
        return rk_state._replace(dt=dt_next)

    def _optimal_step_size(self, last_step: float, error_ratio: float) -> float:
        """torchdiffeq's ``_optimal_step_size`` on floats (float64, as its tensors are)."""
        c = self._floats
        if error_ratio == 0:
            return last_step * c["ifactor"]
        dfactor = 1.0 if error_ratio < 1 else c["dfactor"]
        factor = c["safety"] / error_ratio ** (1.0 / self.order)
        if not math.isnan(factor):  # torch.max/min propagate NaN
            factor = min(c["ifactor"], max(factor, dfactor))
        return last_step * factor

    def _rk_step(self, y0, f0, t0, h, t1, rows):
        """One RK step: (y1, f1, stages), as torchdiffeq's _runge_kutta_step.

        ``t0``, ``t1``: floats, or tensors where the times carry a gradient; ``rows``: the
        tableau's rows times the step size (stages, then solution, then error)."""
        stages = [f0]
        yi = y0
        times = None if torch.is_tensor(t0) else self._stage_times(t0, t1, h, y0)
        for i in range(len(self._alpha)):
            yi = _combine(y0, stages, rows[i][: i + 1])
            ti = self._stage_time(t0, t1, i, h, y0) if times is None else times[i]
            k = self._base(ti, yi)
            # torchdiffeq stores every stage in the state's dtype
            stages.append(k if k.dtype == y0.dtype else k.to(y0.dtype))
        if not self._fsal:
            yi = _combine(y0, stages, rows[-2])
        return yi, stages[-1], stages

    def _stage_times(self, t0: float, t1: float, h, y0: torch.Tensor) -> torch.Tensor:
        """Every stage's ``t0 + alpha_i dt`` in the state's dtype, one tensor (rows are the
        stages); stages with alpha = 1 just before t1 (torchdiffeq's Perturb.PREV)."""
        cast = self._np_dtype
        end = np.nextafter(cast(t1), cast(t1) - 1)
        times = [
            end if one else cast(t0) + a * h
            for a, one in zip(self._alpha, self._alpha_is_one, strict=True)
        ]
        return torch.tensor(np.array(times, dtype=cast), device=y0.device)

    def _stage_time(self, t0, t1, i: int, h, y0: torch.Tensor) -> torch.Tensor:
        """The same for times that carry a gradient (tensors), one stage at a time."""
        if self._alpha_is_one[i]:
            t1_ = t1.to(y0.dtype)
            return _nextafter(t1_, t1_ - 1)
        return t0.to(y0.dtype) + float(self._alpha[i] * h)

    # -- float <-> tensor state, for torchdiffeq's own step ------------------------------------
    def _tensor_state(self, rk_state):
        def as_time(v):
            return (
                v
                if torch.is_tensor(v)
                else torch.tensor(v, dtype=self.dtype, device=self.y0.device)
            )

        return rk_state._replace(
            t0=as_time(rk_state.t0), t1=as_time(rk_state.t1), dt=as_time(rk_state.dt),
            interp_coeff=self._fitted(rk_state.interp_coeff),
        )  # fmt: skip

    # -- dense output, fitted only where read --------------------------------------------------
    def _fitted(self, coeff) -> Any:
        if not isinstance(coeff, _Unfitted):
            return coeff
        h = self._np_dtype(coeff.dt)
        y_mid = _combine(coeff.y0, coeff.stages, (self._mid * h).tolist())
        return _interp_fit(coeff.y0, coeff.y1, y_mid, coeff.stages[0], coeff.stages[-1], float(h))

    def integrate(self, t):
        """torchdiffeq's ``integrate``, the solution stacked at the end rather than copied
        into a preallocated tensor one time at a time."""
        t = t.to(self.dtype)
        self._before_integrate(t)
        return torch.stack([self.y0, *(self._advance(t[i]) for i in range(1, len(t)))])

    def _advance(self, next_t):
        n_steps, budget, until = 0, int(self.max_num_steps), float(next_t.detach())
        while until > _as_float(self.rk_state.t1):
            assert n_steps < budget, f"max_num_steps exceeded ({n_steps}>={budget})"
            self.rk_state = self._adaptive_step(self.rk_state)
            n_steps += 1
        state = self.rk_state
        if isinstance(state.interp_coeff, _Unfitted) and not (
            torch.is_tensor(state.t0) or next_t.requires_grad
        ):
            return self._dense_output(state, float(next_t))
        state = self.rk_state = state._replace(interp_coeff=self._fitted(state.interp_coeff))
        return _interp_evaluate(state.interp_coeff, state.t0, state.t1, next_t)

    def _dense_output(self, state, t: float) -> torch.Tensor:
        """torchdiffeq's dense output at ``t`` in the last step, as one linear combination.

        Its polynomial ``e + d x + c x^2 + b x^3 + a x^4`` (``torchdiffeq._impl.interp``)
        is linear in y0, y1, the midpoint estimate ``y0 + dt sum_j mid_j k_j`` and
        dt f0, dt f1; collecting the scalar weights of each tensor on the host makes it
        one multiply and a few adds instead of fitting five coefficient tensors.
        """
        assert state.t0 <= t <= state.t1, (
            f"invalid interpolation, fails `t0 <= t <= t1`: {state.t0}, {t}, {state.t1}"
        )
        coeff = state.interp_coeff
        cast = self._np_dtype
        x = float(cast((t - state.t0) / (state.t1 - state.t0)))  # torchdiffeq: x in y's dtype
        h = float(cast(coeff.dt))
        x2, x3, x4 = x * x, x**3, x**4
        on_y0 = 1 - 11 * x2 + 18 * x3 - 8 * x4
        on_y1 = -5 * x2 + 14 * x3 - 8 * x4
        on_mid = 16 * x2 - 32 * x3 + 16 * x4
        on_stages = [on_mid * h * float(m) for m in self._mid]
        on_stages[0] += h * (x - 4 * x2 + 5 * x3 - 2 * x4)  # dt f0
        on_stages[-1] += h * (x2 - 3 * x3 + 2 * x4)  # dt f1
        out = torch.mul(coeff.y0, on_y0 + on_mid).add_(coeff.y1, alpha=on_y1)
        return _combine(out, coeff.stages, on_stages, in_place=True)

    def _advance_until_event(self, event_fn):
        self._lean_ok = False  # events read every step's dense output: torchdiffeq's own path
        self.rk_state = self._tensor_state(self.rk_state)
        return super()._advance_until_event(event_fn)


def _lean_class(name: str, solver: type) -> type:
    doc = f"torchdiffeq's {name} with less bookkeeping per step, see {__name__}."
    return type(f"Lean{solver.__name__}", (LeanRK, solver), {"__doc__": doc})


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
