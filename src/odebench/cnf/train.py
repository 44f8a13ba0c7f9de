"""Section 4: continuous normalizing flows against planar flows, trained.

Two experiments, one entry point (FFJORD's trace study is :mod:`odebench.cnf.trace`):

- ``train`` with ``task: density`` (Figure 4): fit a flow q to a target
  ``p ∝ exp(-U)`` of :data:`odebench.cnf.densities.ENERGIES` by minimizing
  KL(q‖p) = E_q[log q + U] + log Z on samples of the flow. The reported ``kl`` adds
  the grid-computed log Z, so it is a true KL (>= 0 up to Monte-Carlo error).
- ``train`` with ``task: likelihood`` (Figure 5): fit a flow to samples of a data
  set of :data:`odebench.cnf.densities.DATASETS` by maximum likelihood; the metric is
  the negative log-likelihood of held-out samples (nats per point).

Training and validation. The optimizer (``adam`` or ``rmsprop``) steps with the learning
rate ``lr`` along ``lr_schedule`` (``constant``, or ``cosine`` decay to 0 over the run).
Density matching may anneal the energy term, as public planar-flow code does: with
``anneal: A`` the loss is E_q[log q + beta U] with beta rising linearly from 0.01 to 1
over the first A iterations (0: beta = 1 throughout). ``validations`` times in a run
(default 20, and after the last iteration) the flow is validated on data no test reads:
density matching estimates KL(q‖p) (beta = 1, with log Z) from ``val_samples`` flow
samples of fixed noise (seed ``VAL_SEED + seed``); maximum likelihood takes the mean
NLL of ``val_samples`` points of the data set, the same for every run (seed
``VAL_SEED``). The CNF's training solves run at ``train_tol`` (default: ``tol``);
validation, test and figures solve at ``tol``. The curve goes to history.csv's
``val_loss``, where the tables judge whether the run converged
(:mod:`odebench.core.convergence`). The last iterate is evaluated.

A training run directory holds ``config.json``, ``metrics.json`` (opened and closed
by :class:`~odebench.core.run.RunEnvelope`), ``history.csv`` (loss, NFE and seconds
per iteration, and the validation loss where it was computed), ``train.log``,
``grid.csv`` (the learned density on a grid: Figure 4) or ``frames.csv`` (samples
and densities along the flow: Figure 5), and while it runs ``checkpoint.pt``, from
which it resumes. The run config's ``device`` (default cpu) holds model and data.

    python -m odebench.cnf train --run-config '{...}' --out DIR [--threads N]
    python -m odebench.cnf trace --run-config '{...}' --out DIR [--threads N]
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from odebench.cnf import densities
from odebench.cnf.family import density_arm, likelihood_arm
from odebench.cnf.flows import build_flow
from odebench.core import artifacts, paths
from odebench.core.cli import run_main
from odebench.core.measuring import count_parameters
from odebench.core.run import RunEnvelope
from odebench.core.solving import reset_nfe, total_nfe
from odebench.core.training import (
    VALIDATED_HISTORY_FIELDS,
    IterativeTrainer,
    evaluate_completed,
    lr_scheduler,
)

log = logging.getLogger(__name__)

GRID_FIELDS = ("x", "y", "density")
FRAME_FIELDS = ("fraction", "kind", "x", "y", "density")
#: Seed offsets of held-out data, so that no training seed draws the test or validation set.
TEST_SEED, VAL_SEED = 10_000, 20_000
#: Defaults: validations per run, validation samples, and beta's start when annealed.
VALIDATIONS, VAL_SAMPLES, BETA_START = 20, 1024, 0.01

#: One update for all parameters at once: a K = 32 NF holds 96 small tensors, and Adam's
#: loop over them took 8.8 ms of a 21 ms step (fused: 1.9 ms; /tmp script, one thread).
OPTIMIZERS = {
    "adam": functools.partial(torch.optim.Adam, fused=True),
    "rmsprop": functools.partial(torch.optim.RMSprop, foreach=True),
}


def device_scope(device: torch.device) -> contextlib.AbstractContextManager:
    """Inside it, torch's factory functions make tensors on ``device``.

    The flows draw their base noise (``torch.randn(n, dim, generator=g)``) without
    naming a device, so on an accelerator the draws that reach them run in this
    scope, with generators on that device. On the CPU it is a no-op: torch's device
    mode intercepts every call and would only slow CPU runs.
    """
    return contextlib.nullcontext() if device.type == "cpu" else device


def _grid_rows(
    model: nn.Module,
    spec: Mapping[str, Any],
    fraction: float = 1.0,
    device: torch.device | str = "cpu",
) -> list[dict]:
    """The flow's density at ``fraction`` of the way from noise to data, on the run's grid."""
    points, _ = densities.grid(float(spec["grid"]["lim"]), int(spec["grid"]["points"]))
    points = points.float().to(device)
    with torch.no_grad():
        density = torch.cat([model.log_prob_stage(chunk, fraction).exp()
                             for chunk in points.split(4096)])  # fmt: skip
    return [{"x": x, "y": y, "density": d}
            for (x, y), d in zip(points.tolist(), density.tolist(), strict=True)]  # fmt: skip


class DensityMatching:
    """Figure 4: minimize KL(q‖p) for a target energy, from samples of the flow."""

    family = "cnf_density"
    outputs = (paths.GRID_CSV, GRID_FIELDS)

    def __init__(self, run: Mapping[str, Any], device: torch.device):
        self.run, self.device = run, device
        self.energy = densities.energy(run["target"])
        self.log_z = densities.log_partition(run["target"])

    @staticmethod
    def arm(run: Mapping[str, Any]) -> str:
        return density_arm(run["target"], run["model"], int(run["capacity"]))

    def loss(self, model: nn.Module, generator: torch.Generator, beta: float) -> torch.Tensor:
        x, log_q = model.sample(int(self.run["batch_size"]), generator)
        return (log_q + beta * self.energy(x)).mean()

    def _kl_terms(self, model: nn.Module, samples: int, seed: int) -> torch.Tensor:
        """log q + U + log Z (float64) of ``samples`` flow samples drawn with ``seed``."""
        generator = torch.Generator(self.device).manual_seed(seed)
        with torch.no_grad():
            x, log_q = model.sample(samples, generator)
            return (log_q + self.energy(x)).double() + self.log_z

    def validation_loss(self, model: nn.Module) -> float:
        """KL(q‖p) on ``val_samples`` flow samples of the same noise at every validation."""
        samples = int(self.run.get("val_samples", VAL_SAMPLES))
        return float(self._kl_terms(model, samples, VAL_SEED + int(self.run["seed"])).mean())

    def evaluate(self, model: nn.Module) -> tuple[dict[str, float], list[dict]]:
        terms = self._kl_terms(model, int(self.run["eval_samples"]),
                               TEST_SEED + int(self.run["seed"]))  # fmt: skip
        scores = {
            "kl": float(terms.mean()),
            "kl_stderr": float(terms.std() / math.sqrt(len(terms))),
            "log_partition": self.log_z,
        }
        return scores, _grid_rows(model, self.run, device=self.device)


class MaxLikelihood:
    """Figure 5: maximize log p(x) on fresh samples of a data set each iteration."""

    family = "cnf_likelihood"
    outputs = (paths.FRAMES_CSV, FRAME_FIELDS)

    def __init__(self, run: Mapping[str, Any], device: torch.device):
        self.run, self.device = run, device
        self.sampler = densities.dataset(run["dataset"])
        # The same held-out points for every seed, model and device: drawn on the CPU.
        test = self.sampler(int(run["test_samples"]), torch.Generator().manual_seed(TEST_SEED))
        self.test = test.to(device)
        val = self.sampler(int(run.get("val_samples", VAL_SAMPLES)),
                           torch.Generator().manual_seed(VAL_SEED))  # fmt: skip
        self.val = val.to(device)

    @staticmethod
    def arm(run: Mapping[str, Any]) -> str:
        return likelihood_arm(run["dataset"], run["model"])

    def loss(self, model: nn.Module, generator: torch.Generator, beta: float) -> torch.Tensor:
        return -model.log_prob(self.sampler(int(self.run["batch_size"]), generator)).mean()

    @staticmethod
    def _nll(model: nn.Module, points: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([-model.log_prob(chunk) for chunk in points.split(5000)])

    def validation_loss(self, model: nn.Module) -> float:
        """Mean NLL of the validation points."""
        return float(self._nll(model, self.val).mean())

    def evaluate(self, model: nn.Module) -> tuple[dict[str, float], list[dict]]:
        reset_nfe(model)
        nll = self._nll(model, self.test)
        scores = {"test_nll": float(nll.mean()),
                  "test_nll_stderr": float(nll.std() / math.sqrt(len(nll))),
                  "test_nfe": total_nfe(model)}  # fmt: skip
        return scores, self.frames(model)

    def frames(self, model: nn.Module) -> list[dict]:
        fractions = [float(f) for f in self.run["frames"]]
        # The same noise on every device: drawn on the CPU (named, inside device_scope).
        noise = torch.randn(int(self.run["frame_samples"]), 2, device="cpu",
                            generator=torch.Generator().manual_seed(TEST_SEED + 1))  # fmt: skip
        noise = noise.to(self.device)
        rows = []
        for fraction, points in zip(fractions, model.stages(noise, fractions), strict=True):
            rows += [{"fraction": fraction, "kind": "sample", "x": x, "y": y}
                     for x, y in points.tolist()]  # fmt: skip
            rows += [{"fraction": fraction, "kind": "density"} | row
                     for row in _grid_rows(model, self.run, fraction, self.device)]  # fmt: skip
        return rows


#: ``task`` of a run config -> the experiment it trains for.
TASKS = {"density": DensityMatching, "likelihood": MaxLikelihood}


def task_of(run: Mapping[str, Any]) -> type[DensityMatching] | type[MaxLikelihood]:
    if run["task"] not in TASKS:
        raise ValueError(f"unknown task {run['task']!r}; known: {', '.join(TASKS)}")
    return TASKS[run["task"]]


class FlowTrainer(IterativeTrainer):
    """Trains one flow for one task; resumable from its checkpoint."""

    def __init__(self, run: Mapping[str, Any], out_dir: Path, device: torch.device | None = None):
        super().__init__(run, out_dir, log, device)
        task = task_of(run)
        if run["optimizer"] not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {run['optimizer']!r}; known: {', '.join(OPTIMIZERS)}"
            )
        self.task = task(run, self.device)
        # Built on the CPU and then moved: the same initial weights on every device.
        torch.manual_seed(int(run["seed"]))
        self.model = build_flow(run["model"], run).to(self.device)
        self.optimizer = OPTIMIZERS[run["optimizer"]](self.model.parameters(), lr=float(run["lr"]))
        iterations = self.total_iterations()
        self.scheduler = lr_scheduler(self.optimizer, run.get("lr_schedule", "constant"),
                                      iterations)  # fmt: skip
        self.anneal = int(run.get("anneal", 0))
        validations = int(run.get("validations", VALIDATIONS))
        if validations < 1 or self.anneal < 0:
            raise ValueError(f"validations must be at least 1 and anneal at least 0, got "
                             f"{validations} and {self.anneal}")  # fmt: skip
        self.eval_every = max(1, iterations // validations)
        self.train_tol = float(run.get("train_tol", run["tol"]))
        # Training batches come from their own generator, so a resumed run draws the
        # batches it would have drawn (Hutchinson noise uses the global RNG, also saved).
        self.generator = torch.Generator(self.device).manual_seed(int(run["seed"]))

    def batch(self, iteration: int) -> float:
        """The energy term's weight beta at ``iteration`` (1 unless annealed)."""
        if self.anneal == 0:
            return 1.0
        return min(1.0, BETA_START + (1 - BETA_START) * (iteration - 1) / self.anneal)

    def loss(self, batch: float) -> torch.Tensor:
        with device_scope(self.device), self.model.tolerance(self.train_tol):
            return self.task.loss(self.model, self.generator, batch)

    def after_iteration(self, iteration: int, total: int) -> None:
        """Validate every ``eval_every`` iterations and after the last one."""
        if iteration % self.eval_every == 0 or iteration == total:
            with device_scope(self.device):
                self.history[-1]["val_loss"] = self.task.validation_loss(self.model)

    def evaluate(self) -> tuple[dict[str, float], list[dict]]:
        with device_scope(self.device):
            return self.task.evaluate(self.model)

    def extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])


#: Scores of metrics.json, None where the task does not produce them.
SCORES = ("kl", "kl_stderr", "log_partition", "test_nll", "test_nll_stderr", "test_nfe")


def train(run: Mapping[str, Any], out_dir: Path, threads: int = 1) -> dict[str, Any]:
    """Train and evaluate one run; writes the run directory and returns its metrics."""
    task = task_of(run)
    envelope = RunEnvelope.open(run, out_dir, family=task.family, arm=task.arm(run),
                                threads=threads)  # fmt: skip
    trainer = FlowTrainer(run, envelope.out_dir, envelope.device)
    outcome = trainer.fit()
    outcome, (scores, rows) = evaluate_completed(outcome, trainer.evaluate, ({}, []))
    results = {
        "task": run["task"], "model": run["model"], "capacity": run["capacity"],
        "target": run.get("target"), "dataset": run.get("dataset"),
        **{key: scores.get(key) for key in SCORES},
        **trainer.summary(),  # iterations, final loss, NFE (0 for planar flows), s / iteration
    }  # fmt: skip
    name, fields = trainer.task.outputs
    artifacts.write_records(envelope.out_dir / paths.HISTORY_CSV, VALIDATED_HISTORY_FIELDS,
                            trainer.history)  # fmt: skip
    artifacts.write_records(envelope.out_dir / name, fields, rows)
    metrics = envelope.close(outcome, results, params=count_parameters(trainer.model))
    log.info("%s: status %s, kl %s, test nll %s", envelope.out_dir, outcome.status, metrics["kl"],
             metrics["test_nll"])  # fmt: skip
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_main("python -m odebench.cnf train",
                    "Train one density-matching or likelihood run.", train, argv)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
