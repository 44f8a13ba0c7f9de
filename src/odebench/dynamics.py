"""Dynamics functions of the small-state experiments: latent ODEs and 2-D CNFs.

Both are cheap to evaluate, so the solver's own bookkeeping is a visible share of
a solve's time; the asv suite (``benchmarks/``) times them for that reason.

- :class:`LatentDynamics`: the latent ODE of Section 5 (latent dimension 4, one
  hidden layer of 20 units, ELU as in torchdiffeq's latent_ode example).
- :class:`PlanarCNFDynamics`: the continuous normalizing flow of Section 4 with
  the paper's time-dependent planar form
  ``dz/dt = sum_m u_m(t) tanh(w_m(t)^T z + b_m(t))``, parameters made by a small
  hypernetwork of t, and ``d log p/dt = -tr(df/dz)`` computed exactly (one
  backward pass per dimension; fine in 2-D).
"""

from __future__ import annotations

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


class PlanarCNFDynamics(nn.Module):
    """Planar CNF of width ``width``: state ``(z, log p)``, exact trace of df/dz.

    Arguments:
        dim: dimension of z.
        width: number M of planar units (the paper's capacity knob for CNFs).
        hyper_hidden: hidden units of the hypernetwork that maps t to (u, w, b).
    """

    def __init__(self, dim: int = 2, width: int = 32, hyper_hidden: int = 32):
        super().__init__()
        self.dim, self.width = dim, width
        self.hyper = nn.Sequential(
            nn.Linear(1, hyper_hidden),
            nn.Tanh(),
            nn.Linear(hyper_hidden, hyper_hidden),
            nn.Tanh(),
            nn.Linear(hyper_hidden, 2 * width * dim + width),
        )

    def velocity(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        params = self.hyper(t.reshape(1, 1).to(z)).reshape(-1)
        m, d = self.width, self.dim
        w = params[: m * d].reshape(m, d)
        u = params[m * d : 2 * m * d].reshape(m, d)
        b = params[2 * m * d :].reshape(m)
        return torch.tanh(z @ w.T + b) @ u / m

    def forward(
        self, t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z, _ = state
        if not torch.is_grad_enabled() or not z.requires_grad:
            # A solve without a graph (inference, or the adjoint's forward pass): the
            # trace still needs df/dz, so differentiate with respect to a fresh leaf.
            z = z.detach().requires_grad_(True)
        with torch.enable_grad():
            dz = self.velocity(t, z)
            trace = torch.zeros(z.shape[0], 1, dtype=z.dtype, device=z.device)
            for i in range(self.dim):
                row = torch.autograd.grad(dz[:, i].sum(), z, create_graph=True)[0]
                trace = trace + row[:, i : i + 1]
        return dz, -trace
