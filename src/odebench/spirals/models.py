"""Models of Table 2: the latent ODE and the RNN baselines, for irregular 2-D sequences.

All models see a batch of trajectories observed at the same number of points,
each at its own sorted times, and must extrapolate to given future times.

- :class:`LatentODE` (Section 5): a recognition RNN (25 units) runs backwards over
  the observations, with the time gaps as input, and gives q(z0); the latent
  state (dimension 4) follows ``dz/dt = f(z)`` (one hidden layer of 20 units) and a
  decoder (one hidden layer of 20 units) maps it to observations. Trained as a
  VAE; it extrapolates by integrating past the observed window.
- :class:`RNNBaseline`: an RNN (25 units) trained to predict the next
  observation, rolled out on its own predictions to extrapolate; with
  ``use_dt`` the time gap to the predicted point is part of its input.

:data:`SEQUENCE_MODELS` maps the config names ``latent_ode``, ``rnn`` and
``rnn_dt`` to constructors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from odebench.core.dynamics import LatentDynamics
from odebench.core.solving import CountedDynamics, integrate, solver_options


def gaps_to_next(times: torch.Tensor) -> torch.Tensor:
    """(N, n) sorted times -> (N, n, 1) time to the next point (0 after the last)."""
    gaps = torch.diff(times, dim=1, append=times[:, -1:])
    return gaps.unsqueeze(-1)


class RecognitionRNN(nn.Module):
    """Backwards RNN over (observation, gap) pairs; returns the mean and log-variance of q(z0)."""

    def __init__(self, obs_dim: int = 2, hidden: int = 25, latent_dim: int = 4):
        super().__init__()
        self.hidden = hidden
        self.i2h = nn.Linear(obs_dim + 1 + hidden, hidden)
        self.h2o = nn.Linear(hidden, 2 * latent_dim)

    def forward(self, x: torch.Tensor, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gaps = gaps_to_next(times)
        h = x.new_zeros(x.shape[0], self.hidden)
        for k in reversed(range(x.shape[1])):
            h = torch.tanh(self.i2h(torch.cat([x[:, k], gaps[:, k], h], dim=1)))
        mean, logvar = self.h2o(h).chunk(2, dim=1)
        return mean, logvar


class LatentODE(nn.Module):
    """The paper's latent ODE: encoder RNN, latent dynamics, decoder."""

    def __init__(self, cfg: Mapping[str, Any]):
        super().__init__()
        latent, obs = int(cfg.get("latent_dim", 4)), 2
        self.encoder = RecognitionRNN(obs, int(cfg.get("rnn_hidden", 25)), latent)
        self.dynamics = CountedDynamics(LatentDynamics(latent, int(cfg.get("dynamics_hidden", 20))))
        hidden = int(cfg.get("decoder_hidden", 20))
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, obs)
        )
        self.method = str(cfg.get("solver", "dopri5"))
        self.tol = float(cfg.get("tol", 1e-5))
        self.gradient = str(cfg.get("gradient", "adjoint"))
        self.obs_std = float(cfg.get("obs_std", 0.3))
        self.options = solver_options(self.method, None, int(cfg.get("max_num_steps", 10_000)))

    def latent_path(self, z0: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """z at every time of ``grid`` (shared by the batch), as (N, len(grid), latent)."""
        path = integrate(
            self.dynamics, z0, grid, method=self.method, tol=self.tol, options=self.options,
            gradient=self.gradient, trajectory=True,
        )  # fmt: skip
        return path.transpose(0, 1)

    def loss(self, x: torch.Tensor, times: torch.Tensor, index: torch.Tensor, grid: torch.Tensor):
        """Negative ELBO per trajectory: Gaussian likelihood of the observations + KL(q(z0)|p(z0)).

        ``index`` (N, n) gives each observation's position on ``grid``: the ODE is
        solved once on the shared grid and read off where each trajectory was observed.
        """
        mean, logvar = self.encoder(x, times)
        z0 = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        path = self.latent_path(z0, grid)
        pred = self.decoder(torch.gather(path, 1, index[..., None].expand(-1, -1, path.shape[2])))
        var = self.obs_std**2
        log_lik = -0.5 * (((x - pred) ** 2) / var + math.log(2 * math.pi * var)).sum((1, 2))
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(1)
        return (kl - log_lik).mean()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, times: torch.Tensor, grid: torch.Tensor) -> dict:
        """Decoded trajectory on ``grid`` from the posterior mean of z0, and the latent path."""
        mean, _ = self.encoder(x, times)
        path = self.latent_path(mean, grid)
        return {"x": self.decoder(path), "z": path}


class RNNBaseline(nn.Module):
    """Next-observation RNN; ``use_dt`` adds the gap to the predicted point to the input."""

    def __init__(self, cfg: Mapping[str, Any], use_dt: bool):
        super().__init__()
        self.use_dt = use_dt
        self.cell = nn.RNNCell(2 + int(use_dt), int(cfg.get("rnn_hidden", 25)))
        self.out = nn.Linear(self.cell.hidden_size, 2)
        self.obs_std = float(cfg.get("obs_std", 0.3))

    def _step(self, x: torch.Tensor, gap: torch.Tensor, h: torch.Tensor | None):
        inputs = torch.cat([x, gap], dim=1) if self.use_dt else x
        h = self.cell(inputs, h)
        return self.out(h), h

    def loss(self, x: torch.Tensor, times: torch.Tensor, index=None, grid=None) -> torch.Tensor:
        """Gaussian negative log-likelihood (fixed std) of each next observation."""
        gaps = gaps_to_next(times)
        h, total = None, 0.0
        for k in range(x.shape[1] - 1):
            pred, h = self._step(x[:, k], gaps[:, k], h)
            total = total + ((pred - x[:, k + 1]) ** 2).sum(1)
        return (total / (2 * self.obs_std**2)).mean()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, times: torch.Tensor, future: torch.Tensor) -> dict:
        """One-step predictions of the observations, then a rollout at the ``future`` times.

        Returns ``x_next`` (N, n - 1, 2), the prediction of each observation from
        the ones before it, and ``x`` (N, len(future), 2), the extrapolation.
        """
        gaps = gaps_to_next(times)
        h, preds = None, []
        for k in range(x.shape[1] - 1):
            pred, h = self._step(x[:, k], gaps[:, k], h)
            preds.append(pred)
        # The last observation leads into the future; each prediction feeds the next step.
        first = future[0] - times[:, -1:]  # (N, 1): from each last observation
        steps = torch.cat([first, torch.diff(future).expand(x.shape[0], -1)], dim=1)
        current, rollout = x[:, -1], []
        for j in range(len(future)):
            current, h = self._step(current, steps[:, j : j + 1], h)
            rollout.append(current)
        return {"x_next": torch.stack(preds, 1), "x": torch.stack(rollout, 1)}


#: Config name -> constructor taking the run config.
SEQUENCE_MODELS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {
    "rnn": lambda cfg: RNNBaseline(cfg, use_dt=False),
    "rnn_dt": lambda cfg: RNNBaseline(cfg, use_dt=True),
    "latent_ode": LatentODE,
}


def build_sequence_model(name: str, cfg: Mapping[str, Any]) -> nn.Module:
    try:
        constructor = SEQUENCE_MODELS[name]
    except KeyError:
        known = ", ".join(SEQUENCE_MODELS)
        raise ValueError(f"unknown sequence model {name!r}; known: {known}") from None
    return constructor(cfg)
