"""Table 2 (spiral extrapolation): build a sequence model from a run config, train, evaluate.

One run trains one model (``latent_ode``, ``rnn`` or ``rnn_dt``) at one number of
observations ``n_obs`` with one seed. Each training trajectory keeps ``n_obs`` of
its first 100 points, drawn without replacement (sorted); the test trajectories
are sampled the same way. The metric is the RMSE of the 100 points after the
observed window (extrapolation) against the noise-free trajectory, over all
held-out spirals; the RMSE on the observed window (against the noise-free truth)
is reported beside it.

A run directory holds ``config.json``, ``metrics.json``, ``history.csv`` (one row
per iteration: loss, NFE forward and backward, seconds), ``predictions.csv``
(a few test spirals for Figure 8: truth, observations, the model's
reconstruction and extrapolation, and for the latent ODE its latent path
projected to 2-D) and, while it runs, ``checkpoint.pt``.

    python -m odebench.spirals train --run-config '{...}' --out DIR [--threads N]
    python -m odebench.spirals collect RUN_DIR... --out results/cpu/tables/fig8_trajectories.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from odebench.core import artifacts
from odebench.core.measuring import count_parameters, peak_rss_bytes, provenance
from odebench.core.training import HISTORY_FIELDS, IterativeTrainer
from odebench.pipeline import paths
from odebench.products.aggregate import collect_run_tables
from odebench.spirals.data import load_spirals, subsample
from odebench.spirals.models import build_sequence_model

log = logging.getLogger(__name__)

PREDICTION_FIELDS = ("spiral", "kind", "t", "x", "y")
#: Layout version of checkpoint.pt; another layout is not resumed from.
CHECKPOINT_FORMAT = 2

#: lr multiplier at iteration ``step`` of ``total``.
LR_SCHEDULES = {
    "constant": lambda step, total: 1.0,
    "cosine": lambda step, total: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total)),
}


def rmse(prediction: torch.Tensor, truth: torch.Tensor) -> float:
    """Root mean squared error over every trajectory, time point and coordinate."""
    return float(torch.sqrt(((prediction - truth) ** 2).mean()))


class SplitData:
    """One split, subsampled to ``n_obs`` points per trajectory."""

    def __init__(self, data: Mapping[str, Any], test: bool, n_obs: int, seed: int):
        mask = data["is_test"] == test
        window = data["observed"].shape[1]
        times = torch.from_numpy(data["times"]).float()
        self.grid, self.future = times[:window], times[window:]
        observed = data["observed"][mask]
        index = subsample(observed, n_obs, seed)
        self.index = torch.from_numpy(index)
        self.x = torch.from_numpy(np.take_along_axis(observed, index[..., None], axis=1))
        self.times = self.grid[self.index]
        self.truth = torch.from_numpy(data["truth"][mask])


class SequenceTrainer(IterativeTrainer):
    """Trains one Table 2 run, full batch; resumable from its checkpoint."""

    checkpoint_format = CHECKPOINT_FORMAT

    def __init__(self, run: Mapping[str, Any], out_dir: Path):
        super().__init__(run, out_dir, log)
        data = load_spirals(Path(run["data"]))
        self.data_spec = data["spec"]
        # Observation subsets depend on the seed, so seeds also vary the sampling.
        self.train = SplitData(data, False, int(run["n_obs"]), 1000 + int(run["seed"]))
        self.test = SplitData(data, True, int(run["n_obs"]), 2000 + int(run["seed"]))
        torch.manual_seed(int(run["seed"]))
        self.model = build_sequence_model(run["model"], run)
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

    def loss(self) -> torch.Tensor:
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
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    artifacts.write_json(out_dir / paths.CONFIG_JSON, dict(run))
    log.info("run %s n_obs %d seed %d: %s", run["model"], run["n_obs"], run["seed"],
             json.dumps(run))  # fmt: skip
    prov = provenance(run, torch.device("cpu"), run["seed"]) | {"threads": threads}
    trainer = SequenceTrainer(run, out_dir)
    status, detail = trainer.fit()
    scores, rows = trainer.evaluate() if status == "completed" else ({}, [])
    history = trainer.history
    metrics = {
        "family": "spirals",
        "model": run["model"],
        "n_obs": run["n_obs"],
        "seed": run["seed"],
        "status": status,
        "status_detail": detail,
        "rmse": scores.get("rmse"),
        "rmse_window": scores.get("rmse_window"),
        "params": count_parameters(trainer.model),
        **trainer.summary(),  # iterations, final loss, NFE (0 for the RNNs), s / iteration
        "n_train": len(trainer.train.x),
        "n_test": len(trainer.test.x),
        "data_spec": trainer.data_spec,
        "peak_rss_bytes": peak_rss_bytes(),
        "wall_seconds": time.perf_counter() - started,
        "config": dict(run),
        "provenance": prov,
    }  # fmt: skip
    artifacts.write_records(out_dir / paths.HISTORY_CSV, HISTORY_FIELDS, history)
    artifacts.write_records(out_dir / paths.PREDICTIONS_CSV, PREDICTION_FIELDS, rows)
    artifacts.write_json(out_dir / paths.METRICS_JSON, metrics)
    log.info("%s n_obs %d: status %s, extrapolation RMSE %s", run["model"], run["n_obs"],
             status, metrics["rmse"])  # fmt: skip
    return metrics


def collect_trajectories(run_dirs: list[Path]) -> pd.DataFrame:
    """Figure 8's table: the predictions.csv of the given runs, with their model and n_obs."""
    return collect_run_tables(run_dirs, paths.PREDICTIONS_CSV, ("model", "n_obs", "seed"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.spirals", description="Table 2 runs on the spirals."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train one run")
    train_cmd.add_argument("--run-config", required=True, help="the resolved run config, JSON")
    train_cmd.add_argument("--out", type=Path, required=True)
    train_cmd.add_argument("--threads", type=int, default=1)
    collect = commands.add_parser("collect", help="Figure 8's table from finished runs")
    collect.add_argument("runs", nargs="+", type=Path)
    collect.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.command == "train":
            train(json.loads(args.run_config), args.out, args.threads)
        else:
            table = collect_trajectories(args.runs)
            artifacts.write_text(args.out, table.to_csv(index=False))
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"odebench.sequences: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
