"""Table 2 (spiral extrapolation): build a sequence model from a run config, train, evaluate.

One run trains one model (``latent_ode``, ``rnn`` or ``rnn_dt``) at one number of
observations ``n_obs`` with one seed. Each training trajectory keeps ``n_obs`` of
its first 100 points, drawn without replacement (sorted); the test trajectories
are sampled the same way. The metric is the RMSE of the 100 points after the
observed window (extrapolation) against the noise-free trajectory, over all
held-out spirals; the RMSE on the observed window (against the noise-free truth)
is reported beside it.

A run directory holds ``config.json``, ``metrics.json`` (opened and closed by
:class:`~odebench.core.run.RunEnvelope`), ``history.csv`` (one row per iteration:
loss, NFE forward and backward, seconds), ``predictions.csv`` (a few test spirals
for Figure 8: truth, observations, the model's reconstruction and extrapolation,
and for the latent ODE its latent path projected to 2-D) and, while it runs,
``checkpoint.pt``. The run config's ``device`` (default cpu) holds model and data.

    python -m odebench.spirals train --run-config '{...}' --out DIR [--threads N]
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from odebench.core import artifacts
from odebench.core.cli import run_main
from odebench.core.measuring import count_parameters
from odebench.core.run import RunEnvelope
from odebench.core.training import HISTORY_FIELDS, IterativeTrainer, evaluate_completed
from odebench.pipeline import paths
from odebench.spirals.data import load_spirals, subsample
from odebench.spirals.models import build_sequence_model

log = logging.getLogger(__name__)

#: ``family`` of every Table 2 run's metrics.json.
FAMILY = "spirals"
PREDICTION_FIELDS = ("spiral", "kind", "t", "x", "y")

#: lr multiplier at iteration ``step`` of ``total``.
LR_SCHEDULES = {
    "constant": lambda step, total: 1.0,
    "cosine": lambda step, total: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total)),
}


def rmse(prediction: torch.Tensor, truth: torch.Tensor) -> float:
    """Root mean squared error over every trajectory, time point and coordinate."""
    return float(torch.sqrt(((prediction - truth) ** 2).mean()))


class SplitData:
    """One split, subsampled to ``n_obs`` points per trajectory, on ``device``.

    The subsample is drawn with NumPy on the host, so it is the same on every device.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        test: bool,
        n_obs: int,
        seed: int,
        device: torch.device | str = "cpu",
    ):
        mask = data["is_test"] == test
        window = data["observed"].shape[1]
        times = torch.from_numpy(data["times"]).float().to(device)
        self.grid, self.future = times[:window], times[window:]
        observed = data["observed"][mask]
        index = subsample(observed, n_obs, seed)
        self.index = torch.from_numpy(index).to(device)
        x = np.take_along_axis(observed, index[..., None], axis=1)
        self.x = torch.from_numpy(x).to(device)
        self.times = self.grid[self.index]
        self.truth = torch.from_numpy(data["truth"][mask]).to(device)


class SequenceTrainer(IterativeTrainer):
    """Trains one Table 2 run, full batch; resumable from its checkpoint."""

    def __init__(self, run: Mapping[str, Any], out_dir: Path, device: torch.device | None = None):
        super().__init__(run, out_dir, log, device)
        data = load_spirals(Path(run["data"]))
        self.data_spec = data["spec"]
        # Observation subsets depend on the seed, so seeds also vary the sampling.
        n_obs, seed = int(run["n_obs"]), int(run["seed"])
        self.train = SplitData(data, False, n_obs, 1000 + seed, self.device)
        self.test = SplitData(data, True, n_obs, 2000 + seed, self.device)
        # Built on the CPU and then moved: the same initial weights on every device.
        torch.manual_seed(seed)
        self.model = build_sequence_model(run["model"], run).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(run["lr"]))
        # Cosine decay of the learning rate to 0 over the run (``lr_schedule: cosine``);
        # ``constant`` keeps torchdiffeq's example setting. Gradients are clipped to
        # ``grad_clip`` in norm when it is set.
        iterations = int(run["iterations"])
        schedule = run.get("lr_schedule", "constant")
        if schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {schedule!r}; known: {', '.join(LR_SCHEDULES)}")
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: LR_SCHEDULES[schedule](step, iterations)
        )
        self.grad_clip = run.get("grad_clip")

    def loss(self, batch: None) -> torch.Tensor:
        train = self.train
        return self.model.loss(train.x, train.times, train.index, train.grid)

    def evaluate(self) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Extrapolation and window RMSE on the test split, and Figure 8's rows."""
        test, model = self.test, self.model
        window = len(test.grid)
        model.eval()
        if self.run["model"] == "latent_ode":
            out = model.predict(test.x, test.times, torch.cat([test.grid, test.future]))
            extrapolation, reconstruction = out["x"][:, window:], out["x"][:, :window]
            recon_times = test.grid.expand(len(test.x), -1)
            window_rmse = rmse(reconstruction, test.truth[:, :window])
        else:
            out = model.predict(test.x, test.times, test.future)
            extrapolation, reconstruction = out["x"], out["x_next"]
            recon_times = test.times[:, 1:]
            truth_at_obs = torch.gather(
                test.truth[:, :window], 1, test.index[:, 1:, None].expand(-1, -1, 2)
            )
            window_rmse = rmse(reconstruction, truth_at_obs)
        scores = {
            "rmse": rmse(extrapolation, test.truth[:, window:]),
            "rmse_window": window_rmse,
        }
        rows = self._figure_rows(out, extrapolation, reconstruction, recon_times)
        return scores, rows

    def _figure_rows(self, out, extrapolation, reconstruction, recon_times) -> list[dict]:
        test, k = self.test, int(self.run["figure_spirals"])
        full = torch.cat([test.grid, test.future])
        rows: list[dict[str, Any]] = []

        def add(kind, times, xy):
            for i in range(min(k, len(xy))):
                for t, (x, y) in zip(times[i].tolist(), xy[i].tolist(), strict=True):
                    rows.append({"spiral": i, "kind": kind, "t": t, "x": x, "y": y})

        n = len(test.x)
        add("truth", full.expand(n, -1), test.truth)
        add("observed", test.times, test.x)
        add("reconstruction", recon_times, reconstruction)
        add("extrapolation", test.future.expand(n, -1), extrapolation)
        if "z" in out:  # the latent path, projected on its first two principal axes
            z = out["z"]
            flat = z.reshape(-1, z.shape[-1])
            centred = flat - flat.mean(0)
            _, _, v = torch.linalg.svd(centred, full_matrices=False)
            add("latent", full.expand(n, -1), (centred @ v[:2].T).reshape(n, -1, 2))
        return rows


def train(run: Mapping[str, Any], out_dir: Path, threads: int = 1) -> dict[str, Any]:
    """Train and evaluate one run; writes the run directory and returns its metrics."""
    arm = paths.spirals_arm(run["model"], int(run["n_obs"]))
    envelope = RunEnvelope.open(run, out_dir, family=FAMILY, arm=arm, threads=threads)
    trainer = SequenceTrainer(run, envelope.out_dir, envelope.device)
    outcome = trainer.fit()
    outcome, (scores, rows) = evaluate_completed(outcome, trainer.evaluate, ({}, []))
    artifacts.write_records(envelope.out_dir / paths.HISTORY_CSV, HISTORY_FIELDS, trainer.history)
    artifacts.write_records(envelope.out_dir / paths.PREDICTIONS_CSV, PREDICTION_FIELDS, rows)
    results = {
        "model": run["model"],
        "n_obs": run["n_obs"],
        "rmse": scores.get("rmse"),
        "rmse_window": scores.get("rmse_window"),
        **trainer.summary(),  # iterations, final loss, NFE (0 for the RNNs), s / iteration
        "n_train": len(trainer.train.x),
        "n_test": len(trainer.test.x),
        "data_spec": trainer.data_spec,
    }
    metrics = envelope.close(outcome, results, params=count_parameters(trainer.model))
    log.info("%s: status %s, extrapolation RMSE %s", arm, outcome.status, metrics["rmse"])
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_main("python -m odebench.spirals train", "Train one Table 2 run.", train, argv)


if __name__ == "__main__":
    sys.exit(main())
