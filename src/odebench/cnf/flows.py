"""Normalizing flows of Section 4: planar flows (NF) and continuous normalizing flows (CNF).

Both share one interface, so density matching and maximum likelihood train
either without knowing which it is:

- ``sample(n, generator) -> (x, log q(x))``: base noise pushed through the flow,
  differentiable (density matching: KL(q‖p) = E_q[log q - log p]).
- ``log_prob(x)``: the flow's log density at data points (maximum likelihood).
- ``stages(noise, fractions)``: where the noise is after each fraction of the
  flow (Figure 5's samples at t = 0, 0.2, ..., 1).
- ``log_prob_stage(x, fraction)``: the density of that intermediate distribution
  (Figure 5's density panels).

:data:`FLOWS` maps ``nf`` and ``cnf`` to their constructors; ``capacity`` is the
paper's knob: the depth K of a planar NF, the width M of a planar CNF.

A planar layer ``f(z) = z + u tanh(w^T z + b)`` has the cheap log-determinant
``log|1 + (1 - tanh^2(w^T z + b)) w^T u|`` but no closed-form inverse. The
inverse reduces to a monotone equation in the scalar ``w^T z`` (with ``w^T u >= -1``,
enforced by Rezende & Mohamed's reparametrization of u) that bisection solves to
float64 precision. An NF is oriented by its task: ``generative`` (noise -> data;
sampling and log q are exact, as density matching needs) or ``normalizing``
(data -> noise; log p(x) is exact and differentiable, as maximum likelihood needs);
the other direction goes through the numerical inverse, without gradients.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from odebench.core.dynamics import PlanarCNFDynamics
from odebench.core.solving import (
    DEFAULT_ADJOINT_NORM,
    DEFAULT_BACKEND,
    CountedDynamics,
    integrate,
    solver_keys,
)

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) per row."""
    return -0.5 * (z**2).sum(dim=1) - 0.5 * z.shape[1] * LOG_2PI


def base_noise(flow: nn.Module, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` draws of the base density, in the dtype of the flow's parameters."""
    dtype = next(flow.parameters()).dtype
    return torch.randn(n, flow.dim, generator=generator, dtype=dtype)


def u_hat(w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Rezende & Mohamed (2015), Appendix A.1: ``u`` moved along ``w`` so that
    ``w^T u_hat = -1 + softplus(w^T u) > -1``; rows of ``(..., D)`` stacks at once."""
    wu = (w * u).sum(-1, keepdim=True)
    return u + (F.softplus(wu) - 1 - wu) * w / ((w * w).sum(-1, keepdim=True) + 1e-12)


class PlanarLayer(nn.Module):
    """``f(z) = z + u_hat tanh(w^T z + b)``, invertible because ``w^T u_hat >= -1``."""

    def __init__(self, dim: int):
        super().__init__()
        # Small u: every layer starts near the identity, so a deep stack starts as the
        # base density rather than as a random warp of it (64 layers of O(1) random u
        # start at a held-out NLL of 21 nats on two moons, and end 0.2 nats worse).
        bound = math.sqrt(1.0 / dim)
        self.w = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))
        self.u = nn.Parameter(torch.empty(dim).uniform_(-0.01, 0.01))
        self.b = nn.Parameter(torch.zeros(()))

    def u_hat(self) -> torch.Tensor:
        return u_hat(self.w, self.u)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f(z), log|det df/dz|)`` per row."""
        u = self.u_hat()
        act = torch.tanh(z @ self.w + self.b)
        slope = (1 - act**2) * (self.w @ u)
        return z + act[:, None] * u, torch.log1p(slope.clamp(min=-1 + 1e-7))

    @torch.no_grad()
    def inverse(self, y: torch.Tensor, iterations: int = 60) -> torch.Tensor:
        """``f^{-1}(y)`` by bisection on ``a = w^T z``: ``w^T y = a + (w^T u_hat) tanh(a + b)``.

        The left side is non-decreasing in ``a`` and ``|a - w^T y| <= |w^T u_hat|``, so
        60 halvings of that bracket reach float64 precision.
        """
        u, w, b = self.u_hat().double(), self.w.double(), self.b.double()
        target, c = y.double() @ w, w @ u
        low, high = target - c.abs(), target + c.abs()
        for _ in range(iterations):
            mid = 0.5 * (low + high)
            above = mid + c * torch.tanh(mid + b) > target
            high, low = torch.where(above, mid, high), torch.where(above, low, mid)
        a = 0.5 * (low + high)
        return (y.double() - torch.tanh(a + b)[:, None] * u).to(y.dtype)


class PlanarFlow(nn.Module):
    """K stacked planar layers (the paper's NF; capacity = depth K).

    Arguments:
        dim: data dimension.
        layers: K.
        direction: ``generative`` (layers map noise to data) or ``normalizing``
            (layers map data to noise), see the module docstring.
    """

    DIRECTIONS = ("generative", "normalizing")

    def __init__(self, dim: int = 2, layers: int = 8, direction: str = "generative"):
        super().__init__()
        if direction not in self.DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}; known: {self.DIRECTIONS}")
        self.dim, self.direction = dim, direction
        self.layers = nn.ModuleList(PlanarLayer(dim) for _ in range(layers))

    @contextlib.contextmanager
    def tolerance(self, tol: float) -> Iterator[None]:
        """No-op: a planar flow solves nothing (the CNF's :meth:`CNF.tolerance`)."""
        yield

    def _push(self, z: torch.Tensor, layers: Sequence[PlanarLayer]) -> tuple[torch.Tensor, Any]:
        """``layers`` applied in turn, and the sum of their log-determinants.

        The same map as calling each :class:`PlanarLayer`, in a fraction of the operations
        (a K = 32 step is dominated by per-operation overhead on a 2-D batch): the
        reparametrized ``u`` of every layer in one batched call, each layer as two fused
        operations, and every log-determinant at the end from the stacked activations.
        """
        if not len(layers):
            return z, torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
        w = torch.stack([layer.w for layer in layers])
        u = u_hat(w, torch.stack([layer.u for layer in layers]))
        b = torch.stack([layer.b for layer in layers])
        acts = []
        for w_k, u_k, b_k in zip(w.unbind(0), u.unbind(0), b.unbind(0), strict=True):
            act = torch.tanh(torch.addmv(b_k, z, w_k))
            z = torch.addcmul(z, act[:, None], u_k)
            acts.append(act)
        slope = (1 - torch.stack(acts) ** 2) * (w * u).sum(-1, keepdim=True)
        return z, torch.log1p(slope.clamp(min=-1 + 1e-7)).sum(0)

    def _pull(self, y: torch.Tensor, layers: Sequence[PlanarLayer]) -> torch.Tensor:
        for layer in reversed(list(layers)):
            y = layer.inverse(y)
        return y

    def _generative_layers(self, fraction: float) -> int:
        return round(fraction * len(self.layers))

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        noise = base_noise(self, n, generator)
        if self.direction == "generative":
            x, logdet = self._push(noise, self.layers)
            return x, standard_normal_log_prob(noise) - logdet
        x = self._pull(noise, self.layers)
        return x, self.log_prob(x)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob_stage(x, 1.0)

    def stages(self, noise: torch.Tensor, fractions: Sequence[float]) -> list[torch.Tensor]:
        out = []
        for fraction in fractions:
            j = self._generative_layers(fraction)
            if self.direction == "generative":
                out.append(self._push(noise, self.layers[:j])[0].detach())
            else:  # generation runs the layers' inverses from the last one down
                out.append(self._pull(noise, self.layers[len(self.layers) - j :]))
        return out

    def log_prob_stage(self, x: torch.Tensor, fraction: float) -> torch.Tensor:
        j = self._generative_layers(fraction)
        if self.direction == "generative":
            layers = self.layers[:j]
            noise = self._pull(x, layers)
            return standard_normal_log_prob(noise) - self._push(noise, layers)[1]
        noise, logdet = self._push(x, self.layers[len(self.layers) - j :])
        return standard_normal_log_prob(noise) + logdet


class CNF(nn.Module):
    """Planar continuous normalizing flow over t in [0, 1] (capacity = width M).

    Noise at t = 0, data at t = 1; ``d log p / dt = -tr(df/dz)`` by the chosen
    trace estimator, whose noise is redrawn before every solve.

    Arguments:
        dim, width, hyper_hidden, trace: of :class:`~odebench.core.dynamics.PlanarCNFDynamics`.
        tol, method, gradient, max_num_steps, backend, adjoint_norm: of the solve
            (:func:`~odebench.core.solving.integrate`).
    """

    def __init__(self, dim: int = 2, width: int = 8, hyper_hidden: int = 32,
                 trace: str = "exact", *, tol: float = 1e-5, method: str = "dopri5",
                 gradient: str = "direct", max_num_steps: int = 10_000,
                 backend: str = DEFAULT_BACKEND,
                 adjoint_norm: str = DEFAULT_ADJOINT_NORM):  # fmt: skip
        super().__init__()
        self.dim = dim
        self.dynamics = CountedDynamics(PlanarCNFDynamics(dim, width, hyper_hidden, trace))
        self.solve_options = {"method": method, "tol": float(tol), "gradient": gradient,
                              "options": {"max_num_steps": int(max_num_steps)},
                              "backend": backend, "adjoint_norm": adjoint_norm}  # fmt: skip

    @property
    def nfe(self) -> int:
        return self.dynamics.nfe

    @contextlib.contextmanager
    def tolerance(self, tol: float) -> Iterator[None]:
        """Inside it, every solve runs at rtol = atol = ``tol`` (e.g. looser training solves)."""
        saved = self.solve_options["tol"]
        self.solve_options["tol"] = float(tol)
        try:
            yield
        finally:
            self.solve_options["tol"] = saved

    def _solve(self, z: torch.Tensor, times: Sequence[float], trajectory: bool = False) -> Any:
        self.dynamics.func.draw_noise(z)
        logp = torch.zeros(z.shape[0], 1, dtype=z.dtype, device=z.device)
        t = torch.tensor(list(times), dtype=z.dtype, device=z.device)
        return integrate(self.dynamics, (z, logp), t, trajectory=trajectory, **self.solve_options)

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        noise = base_noise(self, n, generator)
        x, delta = self._solve(noise, (0.0, 1.0))
        return x, standard_normal_log_prob(noise) + delta[:, 0]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob_stage(x, 1.0)

    def stages(self, noise: torch.Tensor, fractions: Sequence[float]) -> list[torch.Tensor]:
        times = sorted(set(map(float, fractions)) | {0.0})
        with torch.no_grad():
            z, _ = self._solve(noise, times, trajectory=True)
        at = dict(zip(times, z, strict=True))
        return [at[float(f)] for f in fractions]

    def log_prob_stage(self, x: torch.Tensor, fraction: float) -> torch.Tensor:
        if fraction == 0:
            return standard_normal_log_prob(x)
        noise, delta = self._solve(x, (float(fraction), 0.0))
        return standard_normal_log_prob(noise) - delta[:, 0]


def _nf(spec: Mapping[str, Any]) -> PlanarFlow:
    return PlanarFlow(int(spec.get("dim", 2)), int(spec["capacity"]),
                      spec.get("direction", "generative"))  # fmt: skip


def _cnf(spec: Mapping[str, Any]) -> CNF:
    return CNF(int(spec.get("dim", 2)), int(spec["capacity"]), int(spec.get("hyper_hidden", 32)),
               spec.get("trace_estimator", "exact"), tol=spec["tol"], method=spec["solver"],
               gradient=spec["gradient"], max_num_steps=spec["max_num_steps"],
               **solver_keys(spec))  # fmt: skip


#: Model name -> constructor from a run config (``capacity`` and the solver keys).
FLOWS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {"nf": _nf, "cnf": _cnf}


def build_flow(name: str, spec: Mapping[str, Any]) -> nn.Module:
    if name not in FLOWS:
        raise ValueError(f"unknown flow {name!r}; known: {', '.join(FLOWS)}")
    return FLOWS[name](spec)
