"""The ``torchode`` backend of :func:`odebench.core.solving.integrate`: torchode 0.2.0's solvers.

What differs from torchdiffeq, and is the point of this backend: **step-size
control is per sample.** torchdiffeq treats a batch as one big ODE: one step size,
one error norm (the RMS over every number of the batch), one accept/reject
decision, so a hard sample forces small steps on the whole batch while its error
is averaged with the easy samples' errors. torchode solves ``B`` independent ODEs
in lockstep: every batch row has its own time, its own step size, its own error
norm (over that row's features only) and its own accept/reject decision, so each
sample meets the tolerance on its own, as if it had been solved alone.

What it costs: the batch still advances in lockstep, one batched call of the
dynamics per stage for every row, so a solve makes as many dynamics calls as its
slowest sample needs (rejections included). Rows that are finished, or whose step
was rejected, are evaluated anyway (a finished row is evaluated at its end time
with step 0 and does not move). The NFE of a batch is therefore the NFE of its
hardest sample, never less; torchdiffeq's joint RMS norm can need fewer.

Conventions, the same as the other backends (see :func:`integrate`):

- rtol = atol = ``tol``; the controller is torchode's :class:`~torchode.IntegralController`
  (safety 0.9, step factor in [0.2, 10], exponent 1/order), the per-sample
  counterpart of torchdiffeq's controller; torchode's default PID controller would
  be a different controller, not just a per-sample one.
- The error norm is torchdiffeq's: the RMS over a sample's features, and for a tuple
  state (a CNF's ``(z, log p)``) the largest of the components' RMS norms (torchdiffeq's
  mixed norm), taken per sample.
- Times are float64 (torchdiffeq's adaptive solvers also keep times in float64);
  the dynamics receive them cast to the state's dtype.
- The dynamics receive one time per sample, shaped to broadcast against a sample:
  ``(B, 1, 1, 1)`` for a ``(B, C, H, W)`` state, ``(B, 1)`` for ``(B, D)``, ``(B,)``
  for ``(B,)``. A tuple state's first component sets the shape. (Under the adjoint's
  ``vmap``, the dynamics see one sample at a time: a batch of 1 and a ``(1, 1, ...)`` time.)
- No ``torch.jit.script`` and no ``torch.compile``: torchode runs eagerly.

States: a tensor whose first dimension is the batch, any trailing shape, or a tuple
of such tensors with the same batch size and dtype. Each sample is flattened to one
row of a ``(B, features)`` matrix, torchode's layout, and reshaped back inside the
vector field and in the result.

Methods (:data:`METHODS`): only torchode 0.2.0's steppers whose Runge-Kutta tableau
and error estimate are those of a torchdiffeq method: ``dopri5`` (Dopri5, same
tableau, same 4th-order dense output), ``adaptive_heun`` (Heun with its embedded
Euler error estimate), and on a fixed grid of ``options["step_size"]`` ``euler``
(Euler, linear dense output like torchdiffeq's fixed grid) and ``heun2`` (Heun
with every step accepted; torchode interpolates between grid points with a cubic
Hermite polynomial where torchdiffeq interpolates linearly, so only times on the grid
agree exactly). torchode's ``tsit5`` has no torchdiffeq counterpart and is not
offered. Adaptive methods take ``options["max_num_steps"]`` (torchode's ``max_steps``,
per sample, rejected steps included) and ``options["first_step"]``. A fixed grid
advances by adding the step to the time, so a step size that is not exact in binary
(0.1) can leave a rounding-sized last step: one evaluation more than torchdiffeq,
which builds its grid by multiplication.

Gradients:

- ``direct``: :class:`~torchode.AutoDiffAdjoint`, backpropagation through every solver
  operation, with the step sizes detached (torchdiffeq computes its step sizes under
  ``no_grad`` too).
- ``adjoint``: :class:`~torchode.BacksolveAdjoint`, not
  :class:`~torchode.JointBacksolveAdjoint`. BacksolveAdjoint solves the forward ODE and,
  in the backward pass, the adjoint ODE backward from ``t[-1]`` to ``t[0]`` per sample
  (each row's augmented state ``[adj_t, y, adj_y, adj_params]`` has its own step
  size), exactly torchdiffeq's ``odeint_adjoint`` applied row by row; the
  per-sample vector-Jacobian products come from ``torch.func.vmap`` over
  ``torch.func.vjp`` with the parameters substituted by ``functional_call``.
  JointBacksolveAdjoint flattens the whole batch into one ODE, forward and
  backward, which is torchdiffeq's joint control again and would defeat this
  backend. The price of per-sample adjoints: the parameters' adjoint is integrated
  per sample (``B x n_params`` numbers in the augmented state) and the parameter
  VJPs are per-sample gradients. The dynamics must work under ``torch.func.vmap``
  (the bench's three do; a Hutchinson CNF, whose noise spans the batch, does not and
  is refused).
- ``adjoint_norm``: torchode lets a controller take any norm, so both of
  torchdiffeq's adjoint norms are available, per sample: ``full`` is the largest of
  ``|adj_t|`` and the RMS norms of ``y``, ``adj_y`` and each parameter's adjoint;
  ``seminorm`` drops the parameters' adjoints (Kidger, Chen & Lyons, 2021).
- ``adjoint_params``: as in torchdiffeq, the tensors whose gradient the adjoint
  integrates (default: every parameter of ``dynamics`` that requires grad); each
  must be a parameter of ``dynamics``, since torchode substitutes them by name.
  ``()`` integrates the state's adjoint only. Ignored by ``direct``.
- The backward solve has the forward's step budget; exceeding it raises
  :class:`~odebench.core.backends.StepBudgetExceeded` from ``backward()``.
- Gradients with respect to the times ``t`` are not computed.

Every call torchode makes goes through ``dynamics``, so a
:class:`~odebench.core.solving.CountedDynamics` counts them all: one call per stage of
the whole batch, which equals torchode's own ``stats["n_f_evals"]`` (a per-sample
counter that every call increments for all rows). Under the adjoint, one call of the
vmapped VJP is one call of ``dynamics``. Pass ``stats={}`` to receive torchode's
statistics of the forward solve (``n_steps``, ``n_accepted``, ``n_f_evals`` per
sample, ...); after ``backward()`` the adjoint's backward solves are in
``stats["backsolve"]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torchode as to
from torch import nn
from torchode.adjoints import flatten_tensors, unflatten_tensors

from odebench.core.backends import BACKENDS, StepBudgetExceeded

#: odebench/torchdiffeq method name -> (torchode step method, adaptive step size?).
METHODS: dict[str, tuple[Callable[[], nn.Module], bool]] = {
    "dopri5": (lambda: to.Dopri5(term=None), True),
    "adaptive_heun": (lambda: to.Heun(term=None), True),
    "euler": (lambda: to.Euler(None), False),
    "heun2": (lambda: to.Heun(term=None), False),
}

if tuple(METHODS) != BACKENDS["torchode"].methods:
    raise ImportError(
        "odebench.core.torchode_backend and odebench.core.backends list different torchode "
        f"methods: {list(METHODS)} / {list(BACKENDS['torchode'].methods or ())}"
    )

_ADAPTIVE_OPTIONS = frozenset({"max_num_steps", "first_step"})
# A fixed grid has no step budget to exceed; torchdiffeq ignores max_num_steps there too.
_FIXED_OPTIONS = frozenset({"step_size", "max_num_steps"})
_TIME_DTYPE = torch.float64


class _BlockNorm:
    """Per-row error norm: the largest RMS norm over column blocks of a ``(B, n)`` matrix.

    One block is torchode's (and torchdiffeq's) RMS norm; several blocks are
    torchdiffeq's mixed norm. Columns after the last block are not part of the norm
    (the adjoint seminorm's parameter adjoints).
    """

    def __init__(self, sizes: Sequence[int]):
        self.bounds = []
        start = 0
        for size in sizes:
            self.bounds.append((start, start + size, 1.0 / math.sqrt(size)))
            start += size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.bounds) == 1 and self.bounds[0][1] == x.shape[1]:
            return torch.linalg.vector_norm(x, dim=1) * self.bounds[0][2]
        norms = [torch.linalg.vector_norm(x[:, a:b], dim=1) * scale for a, b, scale in self.bounds]
        return torch.stack(norms).amax(dim=0)


class _FlatDynamics(nn.Module):
    """``dynamics`` on torchode's layout: one flat row per sample, one time per sample.

    ``dynamics`` is not registered as a submodule: the module's parameters are exactly
    the adjoint parameters (registered as ``p0, p1, ...``, the same tensors), because
    torchode's adjoint differentiates with respect to ``term.parameters()`` and
    substitutes them with ``functional_call``. When they have been substituted, the
    call passes them on into ``dynamics`` by their names there.
    """

    def __init__(
        self,
        dynamics: Callable[..., Any],
        shapes: Sequence[torch.Size],
        dtype: torch.dtype,
        is_tuple: bool,
        params: Sequence[tuple[str, nn.Parameter]] = (),
    ):
        super().__init__()
        object.__setattr__(self, "dynamics", dynamics)
        self.shapes = [tuple(s) for s in shapes]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.dtype = dtype
        self.is_tuple = is_tuple
        self.time_shape = (-1,) + (1,) * len(self.shapes[0])
        self.param_names = [name for name, _ in params]
        self.originals = [p for _, p in params]
        for i, (_, p) in enumerate(params):
            self.register_parameter(f"p{i}", p)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        lead = y.shape[:-1]  # (B,) from the solver loop, () inside the adjoint's vmap
        if self.is_tuple:
            parts = y.split(self.sizes, dim=-1)
            state: Any = tuple(
                p.reshape(-1, *s).contiguous() for p, s in zip(parts, self.shapes, strict=True)
            )
        else:
            state = y.reshape(-1, *self.shapes[0])
        tt = t.to(self.dtype).reshape(self.time_shape)
        current = [getattr(self, f"p{i}") for i in range(len(self.originals))]
        if any(c is not o for c, o in zip(current, self.originals, strict=True)):
            out = torch.func.functional_call(
                self.dynamics, dict(zip(self.param_names, current, strict=True)), (tt, state)
            )
        else:
            out = self.dynamics(tt, state)
        if self.is_tuple:
            return torch.cat([o.reshape(*lead, -1) for o in out], dim=-1)
        return out.reshape(*lead, -1)


class _ContiguousAugmentedTerm(nn.Module):
    """torchode's augmented adjoint term, fed contiguous ``y`` and ``adj_y``.

    torchode's own term passes column slices of the augmented state into its
    ``vmap``; under ``vmap``, ``group_norm`` (the MNIST dynamics) refuses such
    strided inputs ("Expected X.is_contiguous(memory_format)"), and ``.contiguous()``
    inside the vmapped function does not help, so the copy happens outside.
    Otherwise the same as ``torchode.adjoints.AugmentedDynamicsTerm.vf``, plus the
    evaluation count in the backward solve's statistics, which torchode does not keep,
    and the time adjoint cast to the state's dtype (float32 states, float64 times).
    """

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def init(self, problem, stats):
        return self.inner.init(problem, stats)

    def vf(self, t, y, stats, args):
        if "n_f_evals" in stats:  # torchode's augmented term leaves this counter at 0
            stats["n_f_evals"].add_(1)
        shapes, term_args = args
        _, y_, adj_y, *_ = unflatten_tensors(shapes, y)
        dy, vjp_t, vjp_y, vjp_params = self.inner.vjp_vf(
            t, y_.contiguous(), adj_y.contiguous(), term_args
        )
        # vjp_t has the time dtype (float64); concatenated as is, it would promote a
        # float32 augmented state to float64.
        return flatten_tensors(vjp_t[:, None].to(dy.dtype), dy, vjp_y, *vjp_params)[1]


class _CheckedLoop(nn.Module):
    """A torchode solver loop whose failures raise (the adjoint's backward solve)."""

    def __init__(self, loop: nn.Module, what: str, max_steps: int | None):
        super().__init__()
        self.loop, self.what, self.max_steps = loop, what, max_steps

    def solve(self, problem, term=None, dt0=None, args=None):
        solution = self.loop.solve(problem, term=term, dt0=dt0, args=args)
        _check_status(solution.status, self.what, self.max_steps)
        return solution


def _check_status(status: torch.Tensor, what: str, max_steps: int | None) -> None:
    failed = status != to.Status.SUCCESS.value
    if not bool(failed.any()):
        return
    codes = status[failed]
    n, batch = int(failed.sum()), status.numel()
    if bool((codes == to.Status.REACHED_MAX_STEPS.value).any()):
        raise StepBudgetExceeded(
            f"torchode {what}: {n} of {batch} samples did not finish within "
            f"max_num_steps={max_steps} steps"
        )
    names = sorted({to.Status(int(c)).name for c in codes.unique()})
    raise RuntimeError(f"torchode {what} failed for {n} of {batch} samples: {', '.join(names)}")


def _adjoint_parameters(
    dynamics: Any, adjoint_params: Sequence[torch.Tensor] | None
) -> list[tuple[str, nn.Parameter]]:
    """(name in ``dynamics``, parameter) of the adjoint parameters, as torchdiffeq picks them."""
    named = list(dynamics.named_parameters()) if isinstance(dynamics, nn.Module) else []
    if adjoint_params is None:
        return [(n, p) for n, p in named if p.requires_grad]
    name_of = {id(p): n for n, p in named}
    chosen, seen = [], set()
    for p in adjoint_params:
        if not p.requires_grad or id(p) in seen:
            continue  # torchdiffeq also drops parameters that need no gradient
        if id(p) not in name_of:
            raise ValueError(
                "torchode's adjoint differentiates the dynamics module's own parameters "
                "(substituted by name with torch.func.functional_call); an adjoint parameter "
                "that is not a parameter of the dynamics module is not supported"
            )
        seen.add(id(p))
        chosen.append((name_of[id(p)], p))
    return chosen


def _uses_per_batch_noise(dynamics: Any) -> bool:
    from odebench.core.dynamics import PlanarCNFDynamics

    modules = dynamics.modules() if isinstance(dynamics, nn.Module) else ()
    return any(isinstance(m, PlanarCNFDynamics) and m.trace != "exact" for m in modules)


def solve(
    dynamics: Callable[..., Any],
    h: torch.Tensor | tuple[torch.Tensor, ...],
    t: torch.Tensor,
    *,
    method: str,
    tol: float,
    options: dict | None,
    gradient: str,
    adjoint_norm: str,
    adjoint_params: Sequence[torch.Tensor] | None = None,
    stats: dict | None = None,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Solve ``dh/dt = dynamics(t, h)`` with torchode; the states at every time of ``t``.

    Returns a tensor of shape ``(len(t), *h.shape)``, or a tuple of such tensors when
    ``h`` is a tuple, as ``torchdiffeq.odeint`` does. See the module docstring for
    the semantics; ``stats``, if given, is updated with torchode's statistics.
    """
    if method not in METHODS:
        raise ValueError(
            f"method {method!r} is not available in the torchode backend; "
            f"supported: {', '.join(METHODS)}"
        )
    if gradient not in ("direct", "adjoint"):
        raise ValueError(f"unknown gradient mode {gradient!r}; known: direct, adjoint")
    if adjoint_norm not in ("full", "seminorm"):
        raise ValueError(f"unknown adjoint norm {adjoint_norm!r}; known: full, seminorm")
    make_step_method, adaptive = METHODS[method]
    options = dict(options or {})
    allowed = _ADAPTIVE_OPTIONS if adaptive else _FIXED_OPTIONS
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"options {unknown} are not supported by the torchode backend for {method!r}; "
            f"supported: {', '.join(sorted(allowed))}"
        )
    if not adaptive and options.get("step_size") is None:
        raise ValueError(f"fixed-grid method {method!r} needs options['step_size']")

    # States: (B, features) rows.
    is_tuple = isinstance(h, tuple)
    states = h if is_tuple else (h,)
    if not states or any(s.ndim == 0 for s in states):
        raise ValueError("the torchode backend needs states whose first dimension is the batch")
    batch, dtype, device = states[0].shape[0], states[0].dtype, states[0].device
    if any(s.shape[0] != batch or s.dtype != dtype for s in states):
        raise ValueError("tuple states need the same batch size and dtype in every component")
    shapes = [s.shape[1:] for s in states]
    sizes = [math.prod(s) for s in shapes]
    rows = [s.reshape(batch, -1) for s in states]
    y0 = torch.cat(rows, dim=1) if is_tuple else rows[0]

    # Times: one row of evaluation times per sample.
    if t.ndim != 1 or t.numel() < 2:
        raise ValueError("t must be a 1-D tensor of at least two times")
    t64 = t.detach().to(device=device, dtype=_TIME_DTYPE)
    steps = t64[1:] - t64[:-1]
    if not (bool((steps > 0).all()) or bool((steps < 0).all())):
        raise ValueError("t must be strictly increasing or strictly decreasing")
    direction = 1.0 if bool(steps[0] > 0) else -1.0
    t_eval = t64.expand(batch, -1).contiguous()
    problem = to.InitialValueProblem(y0, t_eval=t_eval)

    if adaptive:
        max_steps = options.get("max_num_steps")
        max_steps = None if max_steps is None else int(max_steps)
        first = options.get("first_step")
        dt0 = None if first is None else torch.full_like(t_eval[:, 0], direction * float(first))

        def controller(norm_sizes: Sequence[int]) -> nn.Module:
            c = to.IntegralController(atol=tol, rtol=tol, norm=_BlockNorm(norm_sizes))
            return c.to(device=device, dtype=dtype)

    else:
        max_steps = None
        dt0 = torch.full_like(t_eval[:, 0], direction * float(options["step_size"]))

        def controller(norm_sizes: Sequence[int]) -> nn.Module:
            return to.FixedStepController()

    if gradient == "adjoint":
        if _uses_per_batch_noise(dynamics):
            raise ValueError(
                "the torchode adjoint evaluates the dynamics one sample at a time "
                "(torch.func.vmap); a Hutchinson trace's noise is drawn for the whole "
                "batch and cannot follow: use trace='exact' or gradient='direct'"
            )
        params = _adjoint_parameters(dynamics, adjoint_params)
        if params and not isinstance(dynamics, nn.Module):
            raise ValueError("the torchode adjoint needs the dynamics to be an nn.Module")
        term = to.ODETerm(_FlatDynamics(dynamics, shapes, dtype, is_tuple, params))
        adjoint = to.BacksolveAdjoint(term, make_step_method(), controller(sizes))
        adjoint.augmented_term = _ContiguousAugmentedTerm(adjoint.augmented_term)
        adjoint.forward_adjoint.max_steps = max_steps
        # Augmented state per sample: [adj_t (1), y, adj_y, adjoint of each parameter].
        aug_sizes = [1, *sizes, *sizes]
        if adjoint_norm == "full":
            aug_sizes += [p.numel() for _, p in params]
        backward = to.AutoDiffAdjoint(
            make_step_method(), controller(aug_sizes), max_steps=max_steps,
            backprop_through_step_size_control=False,
        )  # fmt: skip
        adjoint.backward_adjoint = _CheckedLoop(backward, "adjoint backward solve", max_steps)
        solution = adjoint.solve(problem, dt0=dt0)
    else:
        # adjoint_params and adjoint_norm concern the adjoint only: autograd reaches
        # every tensor the dynamics use.
        term = to.ODETerm(_FlatDynamics(dynamics, shapes, dtype, is_tuple))
        loop = to.AutoDiffAdjoint(
            make_step_method(), controller(sizes), max_steps=max_steps,
            backprop_through_step_size_control=False,
        )  # fmt: skip
        solution = loop.solve(problem, term=term, dt0=dt0)

    if stats is not None:
        if gradient == "adjoint":
            # The adjoint's backward pass appends its solves' statistics to this list.
            solution.stats.setdefault("backsolve", [])
        stats.update(solution.stats)
    _check_status(solution.status, "solve", max_steps)

    ys = solution.ys.transpose(0, 1)  # (len(t), B, features)
    if not is_tuple:
        return ys.reshape(len(t), *h.shape)
    parts = ys.split(sizes, dim=-1)
    return tuple(p.reshape(len(t), batch, *s) for p, s in zip(parts, shapes, strict=True))
