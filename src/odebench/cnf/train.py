"""Section 4 and FFJORD: continuous normalizing flows against planar flows.

Three experiments, one entry point:

- ``train`` with ``task: density`` (Figure 4): fit a flow q to a target
  ``p ∝ exp(-U)`` of :data:`odebench.densities.ENERGIES` by minimizing
  KL(q‖p) = E_q[log q + U] + log Z on samples of the flow. The reported ``kl`` adds
  the grid-computed log Z, so it is a true KL (>= 0 up to Monte-Carlo error).
- ``train`` with ``task: likelihood`` (Figure 5): fit a flow to samples of a data
  set of :data:`odebench.densities.DATASETS` by maximum likelihood; the metric is
  the negative log-likelihood of held-out samples (nats per point).
- ``trace`` (FFJORD): time one CNF training step per data dimension D and trace
  estimator, count its NFE, and measure the estimator's variance.

A training run directory holds ``config.json``, ``metrics.json``, ``history.csv``
(loss, NFE and seconds per iteration), ``train.log``, ``grid.csv`` (the learned
density on a grid: Figure 4) or ``frames.csv`` (samples and densities along the
flow: Figure 5), and while it runs ``checkpoint.pt``, from which it resumes.

    python -m odebench.cnf train --run-config '{...}' --out DIR [--threads N]
    python -m odebench.cnf trace --spec '{...}' --seed S --out DIR [--threads N]
    python -m odebench.cnf collect {grids,frames} RUN_DIR... --out TABLE.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from odebench.cnf import densities
from odebench.cnf.flows import CNF, build_flow
from odebench.core import artifacts
from odebench.core.measuring import count_parameters, peak_rss_bytes, provenance
from odebench.core.solving import StepBudgetExceeded, reset_nfe, total_nfe
from odebench.core.training import HISTORY_FIELDS, IterativeTrainer
from odebench.pipeline import paths
from odebench.products.aggregate import collect_run_tables

log = logging.getLogger(__name__)

GRID_FIELDS = ("x", "y", "density")
FRAME_FIELDS = ("fraction", "kind", "x", "y", "density")
TRACE_FIELDS = ("dim", "estimator", "status", "seconds_per_step", "nfe", "nfe_backward",
                "seconds_per_nfe", "variance", "bias", "exact_log_prob_std", "detail")  # fmt: skip
#: Layout version of checkpoint.pt; another layout is not resumed from.
CHECKPOINT_FORMAT = 1
#: Seed offset of held-out data, so that no training seed draws the test set.
TEST_SEED = 10_000

OPTIMIZERS = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}


def _grid_rows(model: nn.Module, spec: Mapping[str, Any], fraction: float = 1.0) -> list[dict]:
    """The flow's density at ``fraction`` of the way from noise to data, on the run's grid."""
    points, _ = densities.grid(float(spec["grid"]["lim"]), int(spec["grid"]["points"]))
    points = points.float()
    with torch.no_grad():
        density = torch.cat([model.log_prob_stage(chunk, fraction).exp()
                             for chunk in points.split(4096)])  # fmt: skip
    return [{"x": x, "y": y, "density": d}
            for (x, y), d in zip(points.tolist(), density.tolist(), strict=True)]  # fmt: skip


class DensityMatching:
    """Figure 4: minimize KL(q‖p) for a target energy, from samples of the flow."""

    outputs = (paths.GRID_CSV, GRID_FIELDS)

    def __init__(self, run: Mapping[str, Any]):
        self.run = run
        self.energy = densities.energy(run["target"])
        self.log_z = densities.log_partition(run["target"])

    def loss(self, model: nn.Module, generator: torch.Generator) -> torch.Tensor:
        x, log_q = model.sample(int(self.run["batch_size"]), generator)
        return (log_q + self.energy(x)).mean()

    def evaluate(self, model: nn.Module) -> tuple[dict[str, float], list[dict]]:
        generator = torch.Generator().manual_seed(TEST_SEED + int(self.run["seed"]))
        with torch.no_grad():
            x, log_q = model.sample(int(self.run["eval_samples"]), generator)
            terms = (log_q + self.energy(x)).double() + self.log_z
        scores = {
            "kl": float(terms.mean()),
            "kl_stderr": float(terms.std() / math.sqrt(len(terms))),
            "log_partition": self.log_z,
        }
        return scores, _grid_rows(model, self.run)


class MaxLikelihood:
    """Figure 5: maximize log p(x) on fresh samples of a data set each iteration."""

    outputs = (paths.FRAMES_CSV, FRAME_FIELDS)

    def __init__(self, run: Mapping[str, Any]):
        self.run = run
        self.sampler = densities.dataset(run["dataset"])
        # The same held-out points for every seed and model of a data set.
        self.test = self.sampler(int(run["test_samples"]), torch.Generator().manual_seed(TEST_SEED))

    def loss(self, model: nn.Module, generator: torch.Generator) -> torch.Tensor:
        return -model.log_prob(self.sampler(int(self.run["batch_size"]), generator)).mean()

    def evaluate(self, model: nn.Module) -> tuple[dict[str, float], list[dict]]:
        reset_nfe(model)
        with torch.no_grad():
            nll = torch.cat([-model.log_prob(chunk) for chunk in self.test.split(5000)])
        scores = {"test_nll": float(nll.mean()),
                  "test_nll_stderr": float(nll.std() / math.sqrt(len(nll))),
                  "test_nfe": total_nfe(model)}  # fmt: skip
        return scores, self.frames(model)

    def frames(self, model: nn.Module) -> list[dict]:
        fractions = [float(f) for f in self.run["frames"]]
        noise = torch.randn(int(self.run["frame_samples"]), 2,
                            generator=torch.Generator().manual_seed(TEST_SEED + 1))  # fmt: skip
        rows = []
        for fraction, points in zip(fractions, model.stages(noise, fractions), strict=True):
            rows += [{"fraction": fraction, "kind": "sample", "x": x, "y": y}
                     for x, y in points.tolist()]  # fmt: skip
            rows += [{"fraction": fraction, "kind": "density"} | row
                     for row in _grid_rows(model, self.run, fraction)]  # fmt: skip
        return rows


#: ``task`` of a run config -> the experiment it trains for.
TASKS = {"density": DensityMatching, "likelihood": MaxLikelihood}


class FlowTrainer(IterativeTrainer):
    """Trains one flow for one task; resumable from its checkpoint."""

    checkpoint_format = CHECKPOINT_FORMAT

    def __init__(self, run: Mapping[str, Any], out_dir: Path):
        super().__init__(run, out_dir, log)
        if run["task"] not in TASKS:
            raise ValueError(f"unknown task {run['task']!r}; known: {', '.join(TASKS)}")
        if run["optimizer"] not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {run['optimizer']!r}; known: {', '.join(OPTIMIZERS)}"
            )
        self.task = TASKS[run["task"]](run)
        torch.manual_seed(int(run["seed"]))
        self.model = build_flow(run["model"], run)
        self.optimizer = OPTIMIZERS[run["optimizer"]](self.model.parameters(), lr=float(run["lr"]))
        # Training batches come from their own generator, so a resumed run draws the
        # batches it would have drawn (Hutchinson noise uses the global RNG, also saved).
        self.generator = torch.Generator().manual_seed(int(run["seed"]))

    def loss(self) -> torch.Tensor:
        return self.task.loss(self.model, self.generator)

    def extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def train(run: Mapping[str, Any], out_dir: Path, threads: int = 1) -> dict[str, Any]:
    """Train and evaluate one run; writes the run directory and returns its metrics."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    artifacts.write_json(out_dir / paths.CONFIG_JSON, dict(run))
    log.info("run %s: %s", out_dir, json.dumps(run))
    trainer = FlowTrainer(run, out_dir)
    status, detail = trainer.fit()
    scores, rows = {}, []
    if status == "completed":
        try:
            scores, rows = trainer.task.evaluate(trainer.model)
        except StepBudgetExceeded as err:
            status, detail = "step_budget_exhausted", f"evaluation: {err}"
    history = trainer.history
    metrics = {
        "family": run["family"], "task": run["task"], "model": run["model"],
        "capacity": run["capacity"], "target": run.get("target"), "dataset": run.get("dataset"),
        "seed": run["seed"], "status": status, "status_detail": detail,
        **{key: scores.get(key) for key in ("kl", "kl_stderr", "log_partition", "test_nll",
                                            "test_nll_stderr", "test_nfe")},
        "params": count_parameters(trainer.model),
        **trainer.summary(),  # iterations, final loss, NFE (0 for planar flows), s / iteration
        "peak_rss_bytes": peak_rss_bytes(),
        "wall_seconds": time.perf_counter() - started,
        "config": dict(run),
        "provenance": provenance(run, torch.device("cpu"), run["seed"]) | {"threads": threads},
    }  # fmt: skip
    name, fields = trainer.task.outputs
    artifacts.write_records(out_dir / paths.HISTORY_CSV, HISTORY_FIELDS, history)
    artifacts.write_records(out_dir / name, fields, rows)
    artifacts.write_json(out_dir / paths.METRICS_JSON, metrics)
    log.info("%s: status %s, kl %s, test nll %s", out_dir, status, metrics["kl"],
             metrics["test_nll"])  # fmt: skip
    return metrics


# -- FFJORD: the trace estimator ------------------------------------------------------


def trace_data(dim: int, n: int, seed: int) -> torch.Tensor:
    """A two-component Gaussian mixture in ``dim`` dimensions (means ±1.5 per axis)."""
    generator = torch.Generator().manual_seed(seed)
    sign = torch.where(torch.rand(n, 1, generator=generator) < 0.5, -1.5, 1.5)
    return sign + 0.5 * torch.randn(n, dim, generator=generator)


def _estimator_variance(model: CNF, x: torch.Tensor, draws: int) -> torch.Tensor:
    """log p(x) per point for ``draws`` independent noise draws: (draws, N)."""
    with torch.no_grad():
        return torch.stack([model.log_prob(x) for _ in range(draws)])


def trace_study(spec: Mapping[str, Any], seed: int) -> list[dict[str, Any]]:
    """One row per (dim, estimator): seconds and NFE of a training step, estimator variance.

    Every estimator starts from the same weights (same seed) on the same batch, so
    the exact trace's log p(x) is the reference that ``bias`` is measured against.
    """
    rows = []
    for dim in map(int, spec["dims"]):
        x = trace_data(dim, int(spec["batch_size"]), seed)
        reference = None
        for estimator in spec["estimators"]:
            torch.manual_seed(seed)
            model = CNF(dim, int(spec["width"]), int(spec["hyper_hidden"]), estimator,
                        tol=spec["tol"], method=spec["solver"], gradient=spec["gradient"],
                        max_num_steps=spec["max_num_steps"])  # fmt: skip
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            row: dict[str, Any] = {"dim": dim, "estimator": estimator, "status": "completed"}
            try:
                # Two solves suffice to show that the exact trace has no variance.
                draws = 2 if estimator == "exact" else int(spec["noise_draws"])
                estimates = _estimator_variance(model, x, draws)
                if reference is None and estimator == "exact":
                    reference = estimates[0]
                seconds, nfe_f, nfe_b = [], [], []
                for step in range(int(spec["steps"]) + 1):  # the first step warms up
                    started = time.perf_counter()
                    optimizer.zero_grad(set_to_none=True)
                    reset_nfe(model)
                    loss = -model.log_prob(x).mean()
                    forward = total_nfe(model)
                    loss.backward()
                    optimizer.step()
                    if step:
                        seconds.append(time.perf_counter() - started)
                        nfe_f.append(forward)
                        nfe_b.append(total_nfe(model) - forward)
            except StepBudgetExceeded as err:
                row.update(status="step_budget_exhausted", detail=str(err))
                log.info("dim %d %s: %s", dim, estimator, err)
                rows.append(row)
                continue
            step_seconds = statistics.median(seconds)
            row.update(
                seconds_per_step=step_seconds,
                nfe=float(np.mean(nfe_f)),
                nfe_backward=float(np.mean(nfe_b)),
                seconds_per_nfe=step_seconds / (np.mean(nfe_f) + np.mean(nfe_b)),
                # Variance over noise draws of one point's log p(x), mean over points.
                variance=float(estimates.var(dim=0).mean()),
                bias=float((estimates.mean(0) - reference).mean()) if reference is not None
                else None,
                exact_log_prob_std=float(reference.std()) if reference is not None else None,
            )  # fmt: skip
            log.info("dim %d %s: %.3f s/step, NFE %.1f + %.1f, variance %.3g", dim, estimator,
                     step_seconds, row["nfe"], row["nfe_backward"], row["variance"])  # fmt: skip
            rows.append(row)
    return rows


def trace(spec: Mapping[str, Any], seed: int, out_dir: Path, threads: int = 1) -> dict[str, Any]:
    started = time.perf_counter()
    out_dir = Path(out_dir)
    torch.set_num_threads(threads)
    run = dict(spec) | {"family": "cnf_trace", "seed": int(seed)}
    artifacts.write_json(out_dir / paths.CONFIG_JSON, run)
    rows = trace_study(spec, int(seed))
    artifacts.write_records(out_dir / paths.TRACE_CSV, TRACE_FIELDS, rows)
    failed = [f"dim {r['dim']} {r['estimator']}: {r['status']}" for r in rows
              if r["status"] != "completed"]  # fmt: skip
    metrics = {
        "family": "cnf_trace", "seed": int(seed), "status": "completed",
        "status_detail": "; ".join(failed), "rows": len(rows),
        "wall_seconds": time.perf_counter() - started, "peak_rss_bytes": peak_rss_bytes(),
        "config": run, "provenance": provenance(run, torch.device("cpu"), seed)
        | {"threads": threads},
    }  # fmt: skip
    artifacts.write_json(out_dir / paths.METRICS_JSON, metrics)
    return metrics


# -- tables for the figures -----------------------------------------------------------


def collect_grids(run_dirs: Sequence[Path], lim: float, points: int) -> pd.DataFrame:
    """Figure 4's table: every run's learned density and each target's true density."""
    table = collect_run_tables(run_dirs, paths.GRID_CSV, ("target", "model", "capacity", "seed"))
    grid, _ = densities.grid(lim, points)
    frames = [table]
    for name in dict.fromkeys(table["target"]):
        density = torch.exp(-densities.energy(name)(grid) - densities.log_partition(name))
        frames.append(pd.DataFrame({"x": grid[:, 0], "y": grid[:, 1], "density": density})
                      .assign(target=name, model="target", capacity=0, seed=-1))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def collect_frames(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """Figure 5's table: samples and densities along the flow, per data set and model."""
    return collect_run_tables(run_dirs, paths.FRAMES_CSV, ("dataset", "model", "seed"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.cnf", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train one density-matching or likelihood run")
    train_cmd.add_argument("--run-config", required=True, help="the resolved run config, JSON")
    train_cmd.add_argument("--out", type=Path, required=True)
    train_cmd.add_argument("--threads", type=int, default=1)
    trace_cmd = commands.add_parser("trace", help="the trace-estimator study, one seed")
    trace_cmd.add_argument("--spec", required=True, help="the budget's cnf.trace settings, JSON")
    trace_cmd.add_argument("--seed", type=int, required=True)
    trace_cmd.add_argument("--out", type=Path, required=True)
    trace_cmd.add_argument("--threads", type=int, default=1)
    collect = commands.add_parser("collect", help="a figure's table from finished runs")
    collect.add_argument("what", choices=["grids", "frames"])
    collect.add_argument("runs", nargs="+", type=Path)
    collect.add_argument("--out", type=Path, required=True)
    collect.add_argument("--grid", default='{"lim": 4.0, "points": 40}',
                         help="grid of the target densities (grids only), JSON")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.command == "train":
            train(json.loads(args.run_config), args.out, args.threads)
        elif args.command == "trace":
            trace(json.loads(args.spec), args.seed, args.out, args.threads)
        else:
            if args.what == "grids":
                grid = json.loads(args.grid)
                table = collect_grids(args.runs, float(grid["lim"]), int(grid["points"]))
            else:
                table = collect_frames(args.runs)
            # Six significant digits: far below what a figure resolves, a third of the bytes.
            artifacts.write_text(args.out, table.to_csv(index=False, float_format="%.6g"))
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"odebench.cnf: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
