"""Dynamics functions of the small-state experiments: latent ODEs and 2-D CNFs.

Both are cheap to evaluate, so the solver's own bookkeeping is a visible share of
a solve's time; the asv suite (``benchmarks/``) times them for that reason.

- :class:`LatentDynamics`: the latent ODE of Section 5 (latent dimension 4, one
  hidden layer of 20 units, ELU as in torchdiffeq's latent_ode example).
- :class:`PlanarCNFDynamics`: the continuous normalizing flow of Section 4 with
  the paper's time-dependent planar form
  ``dz/dt = sum_m u_m(t) tanh(w_m(t)^T z + b_m(t))``, parameters made by a small
  hypernetwork of t, and ``d log p/dt = -tr(df/dz)`` computed by one of the
  :data:`TRACE_ESTIMATORS`.

Trace estimators (FFJORD, arXiv:1810.01367):

- ``exact``: D backward passes per evaluation, one per row of df/dz; cost O(D^2)
  for dynamics whose own cost is O(D).
- ``hutchinson``: ``e^T (df/dz) e`` with one vector-Jacobian product, noise ``e``
  drawn once per solve (:meth:`PlanarCNFDynamics.draw_noise`) and held fixed, so
  the solver integrates a smooth ODE; unbiased because E[e e^T] = I.
- ``hutchinson_fresh``: the same estimator with new noise at every evaluation.
  The solver then sees a discontinuous right-hand side and its step-size control
  pays for it in evaluations (torchdiffeq issue #120); kept as a measured arm.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class LatentDynamics(nn.Module):
    """``dz/dt = f(z)``, an MLP with one hidden layer (autonomous, as in the paper)."""

    def __init__(self, latent_dim: int = 4, hidden: int = 20):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ELU(inplace=True), nn.Linear(hidden, latent_dim)
        )

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def exact_trace(dz: torch.Tensor, z: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """tr(d dz / dz) per sample, one backward pass per dimension."""
    trace = torch.zeros(z.shape[0], 1, dtype=z.dtype, device=z.device)
    for i in range(z.shape[1]):
        row = torch.autograd.grad(dz[:, i].sum(), z, create_graph=True)[0]
        trace = trace + row[:, i : i + 1]
    return trace


def hutchinson_trace(dz: torch.Tensor, z: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """``e^T (d dz / dz) e`` per sample: one vector-Jacobian product."""
    if noise is None:
        raise RuntimeError("hutchinson trace needs noise: call draw_noise() before the solve")
    vjp = torch.autograd.grad(dz, z, noise, create_graph=True)[0]
    return (vjp * noise).sum(dim=1, keepdim=True)


def _by_autograd(estimate: Callable[..., torch.Tensor]) -> Callable[..., tuple]:
    """``(dynamics, t, z) -> (dz/dt, trace)`` with ``estimate(dz, z, noise)`` on autograd."""

    def run(dynamics: PlanarCNFDynamics, t: torch.Tensor, z: torch.Tensor) -> tuple:
        if not torch.is_grad_enabled() or not z.requires_grad:
            # A solve without a graph (inference, or the adjoint's forward pass): the
            # trace still needs df/dz, so differentiate with respect to a fresh leaf.
            z = z.detach().requires_grad_(True)
        with torch.enable_grad():
            dz = dynamics.velocity(t, z)
            return dz, estimate(dz, z, dynamics.noise)

    return run


def planar_trace(dynamics: PlanarCNFDynamics, t: torch.Tensor, z: torch.Tensor) -> tuple:
    """The exact trace in closed form, no backward pass: for ``f(z) = sum_m u_m tanh(a_m) / M``
    with ``a_m = w_m^T z + b_m``, ``tr(df/dz) = sum_m (1 - tanh^2 a_m) u_m^T w_m / M``."""
    return dynamics.velocity(t, z, with_trace=True)


#: Trace estimator name -> (``(dynamics, t, z) -> (dz/dt, trace)``, whether noise is
#: redrawn at every evaluation). ``exact`` and ``planar`` give the same trace: ``exact``
#: by D backward passes (what FFJORD's trace study times), ``planar`` in closed form.
TRACE_ESTIMATORS: dict[str, tuple[Callable[..., tuple], bool]] = {
    "exact": (_by_autograd(exact_trace), False),
    "hutchinson": (_by_autograd(hutchinson_trace), False),
    "hutchinson_fresh": (_by_autograd(hutchinson_trace), True),
    "planar": (planar_trace, False),
}
#: The estimators that draw no noise.
NOISELESS = frozenset({"exact", "planar"})


class PlanarCNFDynamics(nn.Module):
    """Planar CNF of width ``width``: state ``(z, log p)``.

    Arguments:
        dim: dimension of z.
        width: number M of planar units (the paper's capacity knob for CNFs).
        hyper_hidden: hidden units of the hypernetwork that maps t to (u, w, b).
        trace: a key of :data:`TRACE_ESTIMATORS`; ``exact`` (the paper's) by default,
            ``planar`` for the same trace in closed form.
    """

    def __init__(self, dim: int = 2, width: int = 32, hyper_hidden: int = 32,
                 trace: str = "exact"):  # fmt: skip
        super().__init__()
        if trace not in TRACE_ESTIMATORS:
            raise ValueError(
                f"unknown trace estimator {trace!r}; known: {', '.join(TRACE_ESTIMATORS)}"
            )
        self.dim, self.width, self.trace = dim, width, trace
        self.noise: torch.Tensor | None = None
        self.hyper = nn.Sequential(
            nn.Linear(1, hyper_hidden),
            nn.Tanh(),
            nn.Linear(hyper_hidden, hyper_hidden),
            nn.Tanh(),
            nn.Linear(hyper_hidden, 2 * width * dim + width),
        )

    def velocity(
        self, t: torch.Tensor, z: torch.Tensor, with_trace: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``dz/dt`` at one time ``t`` for the batch, or at one time per sample; with
        ``with_trace``, also ``tr(d dz / dz)`` per sample in closed form (``(B, 1)``).

        ``t`` with one element: one set of planar parameters for every sample.
        ``t`` with one element per sample (shape ``(B,)`` or ``(B, 1)``, as a solver
        with per-sample step control passes it): each sample's own parameters.
        """
        m, d = self.width, self.dim
        if t.numel() == 1:
            params = self.hyper(t.reshape(1, 1).to(z)).reshape(-1)
            w = params[: m * d].reshape(m, d)
            u = params[m * d : 2 * m * d].reshape(m, d)
            b = params[2 * m * d :].reshape(m)
            hidden = torch.tanh(z @ w.T + b)
            dz = hidden @ u / m
            if not with_trace:
                return dz
            return dz, (1 - hidden**2) @ (u * w).sum(dim=1, keepdim=True) / m
        if t.numel() != z.shape[0]:
            raise ValueError(
                f"t must hold one time or one per sample; got {t.numel()} for {z.shape[0]} samples"
            )
        params = self.hyper(t.reshape(-1, 1).to(z))
        w = params[:, : m * d].reshape(-1, m, d)
        u = params[:, m * d : 2 * m * d].reshape(-1, m, d)
        b = params[:, 2 * m * d :]
        hidden = torch.tanh(torch.einsum("bd,bmd->bm", z, w) + b)
        dz = torch.einsum("bm,bmd->bd", hidden, u) / m
        if not with_trace:
            return dz
        return dz, ((1 - hidden**2) * (u * w).sum(dim=2)).sum(dim=1, keepdim=True) / m

    def draw_noise(self, like: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Draw the Rademacher noise of the Hutchinson estimator for the next solve.

        Rademacher rather than Gaussian: the same unbiasedness with lower variance
        (FFJORD, Section 3.1). A no-op for the noiseless traces.
        """
        if self.trace in NOISELESS:
            return
        bits = torch.randint(0, 2, like.shape, generator=generator, device=like.device)
        self.noise = (2 * bits - 1).to(like.dtype)

    def forward(
        self, t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z, _ = state
        solve, fresh = TRACE_ESTIMATORS[self.trace]
        if fresh:
            self.draw_noise(z)
        dz, trace = solve(self, t, z)
        return dz, -trace
