"""Models of Table 2: the latent ODE, the RNN baselines and two reference predictors.

All models see a batch of trajectories observed at the same number of points,
each at its own sorted times, and must extrapolate to given future times. Times
are relative to the start of the observed window: t = 0 is the window's first
grid point, the time at which the latent ODE's z0 lives (the data set's times
start there; the latent ODE measures from its solve grid's first time anyway).

What each model sees, and how it extrapolates:

- :class:`LatentODE` (Section 5): a recognition RNN (25 units) runs backwards over
  the observations, each with its time and the gap to the next observation, and
  gives q(z0). Without the times it could tell how the observations are spaced
  but not where they lie in the window, so not how far back t = 0 is, where the
  z0 it encodes must sit. The latent state (dimension 4) follows ``dz/dt = f(z)``
  (one hidden layer of 20 units) and a decoder (one hidden layer of 20 units)
  maps it to observations. Trained as a VAE; it extrapolates by integrating past
  the observed window.
- ``rnn_dt`` (:class:`RNNBaseline` with time): the paper's time-aware baseline, an
  RNN (25 units) trained to predict the next observation from (observation, time
  difference to it), the paper's "time differences as input". It is not given
  absolute times: an autoregressive RNN has no state at t = 0 that they would
  locate, and in its rollout they would run past every time it trained on (0 to
  1.9 in training, 1.9 to 3.8 when extrapolating; with them it did worse than
  holding the last observation). It extrapolates by rolling out on its own
  predictions at the actual future times: each step's input says how far it goes.
- ``rnn`` (:class:`RNNBaseline` without time): the paper's baseline, observations
  only. One step of it means whatever spacing its training pairs had, on
  average the mean gap of its training observations (about 100 / (n + 1) grid
  steps), so it is rolled out at that spacing, its predictions are placed at
  those times after the last observation, and interpolated linearly onto the
  future times. Rolled out once per future point instead, it would advance that
  many grid steps where the truth advances one.
- ``hold_last`` (:class:`HoldLast`) and ``linear`` (:class:`LinearExtrapolation`):
  references without parameters or training. ``hold_last`` predicts the last
  observation at every future time; ``linear`` extends the last observed motion: a
  straight line fitted by least squares to the observations of the last quarter of
  the observed time span (the velocity between the last two noisy observations
  alone, close in time, is mostly noise: RMSE 15 against 2.3 for holding, measured
  at n = 30). They say what extrapolation costs without learning anything: a
  trained model should beat both.

The next-observation models (both RNNs and the references) share one loss, the
Gaussian negative log-likelihood (std ``obs_std``) of each observation predicted
from the ones before, so that their validation losses compare.

:data:`SEQUENCE_MODELS` maps the config names ``rnn``, ``rnn_dt``, ``latent_ode``,
``hold_last`` and ``linear`` to constructors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from odebench.core.dynamics import LatentDynamics
from odebench.core.solving import CountedDynamics, integrate, solver_keys, solver_options


def gaps_to_next(times: torch.Tensor) -> torch.Tensor:
    """(N, n) sorted times -> (N, n, 1) time to the next point (0 after the last)."""
    gaps = torch.diff(times, dim=1, append=times[:, -1:])
    return gaps.unsqueeze(-1)


def time_and_gap(times: torch.Tensor) -> torch.Tensor:
    """(N, n) sorted times -> (N, n, 2): each point's time and the gap to the next (0 last)."""
    return torch.cat([times.unsqueeze(-1), gaps_to_next(times)], dim=-1)


def next_observation_nll(pred: torch.Tensor, target: torch.Tensor, obs_std: float) -> torch.Tensor:
    """Gaussian negative log-likelihood (fixed std, constant dropped) per trajectory, averaged."""
    return (((pred - target) ** 2).sum((1, 2)) / (2 * obs_std**2)).mean()


def interpolate_rollout(
    values: torch.Tensor, start: torch.Tensor, spacing: float, at: torch.Tensor
) -> torch.Tensor:
    """Linear interpolation of points spaced evenly in time, clamped at both ends.

    Arguments:
        values: (N, K + 1, D), point k of trajectory i at time ``start[i] + k * spacing``.
        start: (N, 1) time of each trajectory's first point.
        spacing: time between consecutive points.
        at: (F,) times to read off, shared by the batch.

    Returns:
        (N, F, D).
    """
    last = values.shape[1] - 1
    position = ((at[None, :] - start) / spacing).clamp(0, last)  # (N, F), in steps
    below = position.floor().long().clamp(max=max(last - 1, 0))
    weight = (position - below).unsqueeze(-1)
    above = (below + 1).clamp(max=last)

    def take(k):
        return torch.gather(values, 1, k.unsqueeze(-1).expand(-1, -1, values.shape[2]))

    return (1 - weight) * take(below) + weight * take(above)


class SequenceModel(nn.Module):
    """What a Table 2 model provides (the trainer calls nothing else).

    - ``loss(x, times, index, grid)``: the training loss of a batch, one scalar.
      ``x`` (N, n, 2) observations at ``times`` (N, n); ``index`` (N, n) their
      positions on the observed window's ``grid`` (n_window,).
    - ``predict(x, times, future)``: without gradients, a dict with ``x`` (N, F, 2),
      the extrapolation (the latent ODE takes the whole grid, window and future, and
      returns its reconstruction too).
    - :meth:`set_training_times`: what the model takes from its training
      observations' times before training.
    """

    def set_training_times(self, times: torch.Tensor) -> None:
        """Told the training observations' times (N, n) once, before training."""


class RecognitionRNN(nn.Module):
    """Backwards RNN over (observation, time, gap to next); returns q(z0)'s mean and log-variance.

    ``times`` are measured from the time at which z0 lives.
    """

    def __init__(self, obs_dim: int = 2, hidden: int = 25, latent_dim: int = 4):
        super().__init__()
        self.hidden = hidden
        self.i2h = nn.Linear(obs_dim + 2 + hidden, hidden)
        self.h2o = nn.Linear(hidden, 2 * latent_dim)

    def forward(self, x: torch.Tensor, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        when = time_and_gap(times)
        h = x.new_zeros(x.shape[0], self.hidden)
        for k in reversed(range(x.shape[1])):
            h = torch.tanh(self.i2h(torch.cat([x[:, k], when[:, k], h], dim=1)))
        mean, logvar = self.h2o(h).chunk(2, dim=1)
        return mean, logvar


class LatentODE(SequenceModel):
    """The paper's latent ODE: encoder RNN, latent dynamics, decoder.

    In training mode z0 is sampled from q(z0) (the reparameterised ELBO); in eval
    mode it is the posterior mean, so that :meth:`loss` is deterministic there (the
    validation loss) and :meth:`predict` always is.
    """

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
        self.solver_keys = solver_keys(cfg)

    def posterior(self, x: torch.Tensor, times: torch.Tensor, grid: torch.Tensor):
        """Mean and log-variance of q(z0), z0 at ``grid[0]``."""
        return self.encoder(x, times - grid[0])

    def latent_path(self, z0: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """z at every time of ``grid`` (shared by the batch), as (N, len(grid), latent)."""
        path = integrate(
            self.dynamics, z0, grid, method=self.method, tol=self.tol, options=self.options,
            gradient=self.gradient, trajectory=True, **self.solver_keys,
        )  # fmt: skip
        return path.transpose(0, 1)

    def loss(self, x: torch.Tensor, times: torch.Tensor, index: torch.Tensor, grid: torch.Tensor):
        """Negative ELBO per trajectory: Gaussian likelihood of the observations + KL(q(z0)|p(z0)).

        ``index`` (N, n) gives each observation's position on ``grid``: the ODE is
        solved once on the shared grid and read off where each trajectory was observed.
        """
        mean, logvar = self.posterior(x, times, grid)
        z0 = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if self.training else mean
        path = self.latent_path(z0, grid)
        pred = self.decoder(torch.gather(path, 1, index[..., None].expand(-1, -1, path.shape[2])))
        var = self.obs_std**2
        log_lik = -0.5 * (((x - pred) ** 2) / var + math.log(2 * math.pi * var)).sum((1, 2))
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(1)
        return (kl - log_lik).mean()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, times: torch.Tensor, grid: torch.Tensor) -> dict:
        """Decoded trajectory on ``grid`` from the posterior mean of z0, and the latent path."""
        mean, _ = self.posterior(x, times, grid)
        path = self.latent_path(mean, grid)
        return {"x": self.decoder(path), "z": path}


class NextObservationModel(SequenceModel):
    """A model that predicts each observation from the ones before it and extrapolates from there.

    Subclasses define :meth:`one_step` and :meth:`extrapolate` (or :meth:`predict`).
    """

    def __init__(self, cfg: Mapping[str, Any]):
        super().__init__()
        self.obs_std = float(cfg.get("obs_std", 0.3))

    def one_step(self, x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """(N, n - 1, 2): the prediction of observations 2..n from the ones before each."""
        raise NotImplementedError

    def extrapolate(self, x: torch.Tensor, times: torch.Tensor, future: torch.Tensor):
        """(N, len(future), 2): the prediction at the ``future`` times (after every observation)."""
        raise NotImplementedError

    def loss(self, x: torch.Tensor, times: torch.Tensor, index=None, grid=None) -> torch.Tensor:
        """Gaussian negative log-likelihood (fixed std) of each next observation."""
        return next_observation_nll(self.one_step(x, times), x[:, 1:], self.obs_std)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, times: torch.Tensor, future: torch.Tensor) -> dict:
        """``x_next`` (N, n - 1, 2), the one-step predictions, and ``x`` (N, len(future), 2)."""
        return {"x_next": self.one_step(x, times), "x": self.extrapolate(x, times, future)}


class RNNBaseline(NextObservationModel):
    """Next-observation RNN; ``use_time`` adds the time difference to the predicted point.

    Rollouts (see the module docstring for why):

    - with time, at the actual future times: the step into ``future[j]`` is given
      the gap to it from the time it starts from (the last observation's, then
      ``future[j - 1]``);
    - without time, at the mean gap of the training observations (the ``spacing``
      buffer, set by :meth:`set_training_times`): enough steps to pass the last
      future time, the k-th placed at ``t_n + k * spacing`` after the last
      observation ``x_n`` (which sits at ``t_n``, step 0), linearly interpolated
      onto the future times.
    """

    def __init__(self, cfg: Mapping[str, Any], use_time: bool):
        super().__init__(cfg)
        self.use_time = use_time
        self.cell = nn.RNNCell(2 + int(use_time), int(cfg.get("rnn_hidden", 25)))
        self.out = nn.Linear(self.cell.hidden_size, 2)
        if not use_time:
            self.register_buffer("spacing", torch.tensor(math.nan))

    def set_training_times(self, times: torch.Tensor) -> None:
        if not self.use_time:
            self.spacing.fill_(float(torch.diff(times, dim=1).mean()))

    def _step(self, x: torch.Tensor, when: torch.Tensor, h: torch.Tensor | None):
        """One step from ``x`` (N, 2); ``when`` (N, 2) is its time and the gap to the next point,
        of which the RNN with time sees the gap only."""
        inputs = torch.cat([x, when[:, 1:]], dim=1) if self.use_time else x
        h = self.cell(inputs, h)
        return self.out(h), h

    def _read(self, x: torch.Tensor, times: torch.Tensor):
        """One-step predictions (N, n - 1, 2) and the state after reading x_1..x_{n-1}."""
        when = time_and_gap(times)
        h, preds = None, []
        for k in range(x.shape[1] - 1):
            pred, h = self._step(x[:, k], when[:, k], h)
            preds.append(pred)
        return torch.stack(preds, 1), h

    def one_step(self, x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        return self._read(x, times)[0]

    def _rollout(self, x: torch.Tensor, times: torch.Tensor, future: torch.Tensor, h):
        """The extrapolation from the last observation, the state ``h`` having read the others."""
        n = x.shape[0]
        current, rollout = x[:, -1], []
        if self.use_time:
            starts = torch.cat([times[:, -1:], future[:-1].expand(n, -1)], dim=1)  # (N, F)
            when = torch.stack([starts, future.expand(n, -1) - starts], dim=-1)
            for j in range(len(future)):
                current, h = self._step(current, when[:, j], h)
                rollout.append(current)
            return torch.stack(rollout, 1)
        spacing = float(self.spacing)
        if not math.isfinite(spacing) or spacing <= 0:
            raise RuntimeError("the plain RNN's rollout spacing is unset: call set_training_times")
        last = times[:, -1:]
        steps = max(1, math.ceil(float((future[-1] - last).max()) / spacing))
        for _ in range(steps):
            current, h = self._step(current, None, h)
            rollout.append(current)
        path = torch.stack([x[:, -1], *rollout], 1)  # step k at last + k * spacing
        return interpolate_rollout(path, last, spacing, future)

    def extrapolate(self, x: torch.Tensor, times: torch.Tensor, future: torch.Tensor):
        return self._rollout(x, times, future, self._read(x, times)[1])

    @torch.no_grad()
    def predict(self, x: torch.Tensor, times: torch.Tensor, future: torch.Tensor) -> dict:
        """One-step predictions of the observations, then the rollout (one pass over them)."""
        preds, h = self._read(x, times)
        return {"x_next": preds, "x": self._rollout(x, times, future, h)}


class HoldLast(NextObservationModel):
    """Predicts the last observation seen (one step ahead: the one before; the future: the last)."""

    def one_step(self, x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        return x[:, :-1]

    def extrapolate(self, x: torch.Tensor, times: torch.Tensor, future: torch.Tensor):
        return x[:, -1:].expand(-1, len(future), -1)


class LinearExtrapolation(NextObservationModel):
    """Extends the last observed motion in a straight line.

    Observation k is predicted from k - 1 and k - 2 (the second observation, with
    one before it, by holding). The future follows the least-squares line through
    the observations of the last :data:`MOTION_SHARE` of the observed time span
    (at least the last two), evaluated at the future times.
    """

    #: Share of the observed time span, ending at the last observation, the future's
    #: line is fitted to: long enough to average the noise, short enough to be the
    #: last motion (a quarter turn of the spiral spans about 1.6 of these windows).
    MOTION_SHARE = 0.25

    @staticmethod
    def velocities(x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """(N, n - 1, 2): the velocity from each observation to the next."""
        return torch.diff(x, dim=1) / torch.diff(times, dim=1).unsqueeze(-1)

    def one_step(self, x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        if x.shape[1] < 2:
            return x[:, :0]
        velocity = self.velocities(x, times)[:, :-1]  # from the two before observations 3..n
        ahead = x[:, 1:-1] + velocity * torch.diff(times[:, 1:], dim=1).unsqueeze(-1)
        return torch.cat([x[:, :1], ahead], dim=1)

    def extrapolate(self, x: torch.Tensor, times: torch.Tensor, future: torch.Tensor):
        if x.shape[1] < 2:  # one observation: no motion to extend
            return x[:, -1:].expand(-1, len(future), -1)
        span = times[:, -1:] - times[:, :1]
        recent = times >= times[:, -1:] - self.MOTION_SHARE * span  # (N, n)
        recent[:, -2:] = True  # at least the last two observations
        weight = recent.to(x.dtype).unsqueeze(-1)  # (N, n, 1)
        count = weight.sum(1, keepdim=True)
        t = times.unsqueeze(-1)
        t_mean = (weight * t).sum(1, keepdim=True) / count
        x_mean = (weight * x).sum(1, keepdim=True) / count
        centred = t - t_mean
        velocity = (weight * centred * (x - x_mean)).sum(1, keepdim=True) / (
            (weight * centred**2).sum(1, keepdim=True)
        )  # (N, 1, 2): the least-squares slope
        return x_mean + velocity * (future[None, :, None] - t_mean)


#: Config name -> constructor taking the run config.
SEQUENCE_MODELS: dict[str, Callable[[Mapping[str, Any]], SequenceModel]] = {
    "rnn": lambda cfg: RNNBaseline(cfg, use_time=False),
    "rnn_dt": lambda cfg: RNNBaseline(cfg, use_time=True),
    "latent_ode": LatentODE,
    "hold_last": HoldLast,
    "linear": LinearExtrapolation,
}


def build_sequence_model(name: str, cfg: Mapping[str, Any]) -> SequenceModel:
    try:
        constructor = SEQUENCE_MODELS[name]
    except KeyError:
        known = ", ".join(SEQUENCE_MODELS)
        raise ValueError(f"unknown sequence model {name!r}; known: {known}") from None
    return constructor(cfg)
