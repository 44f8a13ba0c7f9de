"""MNIST classification (Table 1): build a model from a run config, train, evaluate.

One run trains one arm with one seed and writes, into its run directory,
``config.json`` (the resolved run config), ``history.csv`` (one row per epoch),
``steps.csv`` (one row per training step), ``metrics.json`` (results,
measurements and provenance: :class:`~odebench.core.run.RunEnvelope`), ``model.pt``
(the weights of the best validation epoch) and, while it runs, ``checkpoint.pt``,
written every ``checkpoint_every`` training steps, from which an interrupted run
resumes where it stopped, mid-epoch too, to the result it would have reached.

Protocol: SGD with momentum (``nesterov``, ``weight_decay``), lr scaled by batch/128
and scheduled per training step by ``lr_schedule`` (:data:`SCHEDULES`): ``step``, the
paper's, multiplies it by ``lr_decay`` at fixed fractions of all training steps;
``one_cycle``, built for short budgets, warms up to it over the first ``warmup`` of
the steps and anneals it to nearly 0 on a cosine; random crops (pad 4) made on whole
batches; the model is selected on the validation split and the test
split is evaluated once, at the end, with the selected weights.

Entry point (the Snakemake rule calls the first form)::

    python -m odebench.mnist --run-config '{...}' --out DIR [--threads N]
    python -m odebench.mnist --model odenet --seed 0 --tol 1e-3 --budget smoke --out DIR
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from odebench.core import artifacts, checkpoint, paths
from odebench.core.cli import run_main
from odebench.core.measuring import SavedTensorMeter, count_parameters
from odebench.core.run import RunEnvelope
from odebench.core.solving import reset_nfe, total_nfe
from odebench.core.training import IterativeTrainer, evaluate_completed
from odebench.mnist.arms import CROP_PADDING
from odebench.mnist.data import DataError, load_mnist
from odebench.mnist.family import arm_name
from odebench.mnist.models import build_model
from odebench.mnist.precision import DEFAULT as DEFAULT_PRECISION
from odebench.mnist.precision import precision

log = logging.getLogger(__name__)

#: ``family`` of every MNIST run's metrics.json.
FAMILY = "mnist"


@dataclass
class EpochRecord:
    """One row of history.csv. NFE are means per training batch."""

    epoch: int
    lr: float
    train_loss: float
    train_error_pct: float
    val_error_pct: float
    nfe_forward: float
    nfe_backward: float
    val_nfe_forward: float
    activation_bytes: int
    activation_nfe_forward: int
    epoch_seconds: float
    examples_per_s: float


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random crops of a whole batch (zero padding), one gather instead of a Python loop."""
    if padding == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # n x h
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # n x w
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    forward: Callable[[], AbstractContextManager] = contextlib.nullcontext,
) -> dict:
    """Error rate (%) and mean forward NFE per batch, without gradients, each forward pass
    inside ``forward()`` (the training's :mod:`~odebench.mnist.precision` path)."""
    model.eval()
    wrong, nfes = 0, []
    for start in range(0, len(x), batch_size):
        reset_nfe(model)
        with forward():
            logits = model(x[start : start + batch_size])
        nfes.append(total_nfe(model))
        wrong += int((logits.argmax(1) != y[start : start + batch_size]).sum())
    model.train()
    return {"error_pct": 100.0 * wrong / len(x), "nfe_forward": sum(nfes) / len(nfes)}


def lr_milestones(run: Mapping[str, Any], steps_per_epoch: int) -> list[int]:
    total = run["epochs"] * steps_per_epoch
    return sorted({max(1, round(f * total)) for f in run["lr_milestones"]})


def _step_schedule(optimizer: torch.optim.Optimizer, run: Mapping[str, Any],
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:  # fmt: skip
    """The paper's: lr times ``lr_decay`` at each of ``lr_milestones`` (fractions of all steps)."""
    return torch.optim.lr_scheduler.MultiStepLR(
        optimizer, lr_milestones(run, steps_per_epoch), gamma=run["lr_decay"]
    )


def _one_cycle(optimizer: torch.optim.Optimizer, run: Mapping[str, Any],
               steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:  # fmt: skip
    """Warm-up from lr/25 to the optimizer's lr over the first ``warmup`` of all steps, then a
    cosine to lr/25e4 at the last step (torch's OneCycleLR; momentum held fixed)."""
    (peak,) = {group["lr"] for group in optimizer.param_groups}
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=peak, total_steps=run["epochs"] * steps_per_epoch,
        pct_start=run["warmup"], anneal_strategy="cos", cycle_momentum=False,
    )  # fmt: skip


#: ``lr_schedule`` -> the scheduler it builds, stepped once per training step.
SCHEDULES = {"step": _step_schedule, "one_cycle": _one_cycle}


class Trainer(IterativeTrainer):
    """Trains one MNIST run in epochs of shuffled, randomly cropped minibatches; resumable.

    The loop is :class:`~odebench.core.training.IterativeTrainer`'s, one iteration per
    minibatch; this class adds the epochs around it: a shuffle and crop generator per
    epoch (seeded by run seed and epoch, its state checkpointed so that a run resumed
    mid-epoch draws the batches and crops it would have drawn), a validation pass and
    a history.csv row at the end of every epoch, and the best validation epoch's
    weights. Its ``history`` is one row per step (steps.csv); ``epochs`` the per-epoch
    rows (history.csv).
    """

    def __init__(self, run: Mapping[str, Any], out_dir: Path, device: torch.device | None = None):
        super().__init__(run, out_dir, log, device)
        data = load_mnist(Path(run["data"]), self.device)
        n_train, n_eval = run["train_subset"], run["eval_subset"]
        self.x_train, self.y_train = data["x_train"][:n_train], data["y_train"][:n_train]
        self.x_val, self.y_val = data["x_val"][:n_eval], data["y_val"][:n_eval]
        self.x_test, self.y_test = data["x_test"][:n_eval], data["y_test"][:n_eval]

        torch.manual_seed(run["seed"])
        self.model = build_model(run["model"], run).to(self.device)
        batch = run["batch_size"]
        self.epoch_length = math.ceil(len(self.x_train) / batch)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=run["lr"] * batch / 128, momentum=run["momentum"],
            nesterov=run["nesterov"], weight_decay=run["weight_decay"],
        )  # fmt: skip
        self.scheduler = SCHEDULES[run["lr_schedule"]](self.optimizer, run, self.epoch_length)
        # A config from before the key existed: float32, as it was trained.
        self.precision = precision(run.get("precision", DEFAULT_PRECISION))
        self.crop_padding = int(run.get("crop_padding", CROP_PADDING))
        self.epochs: list[EpochRecord] = []
        self.best = {"val_error_pct": math.inf, "epoch": 0, "state": None}
        # The epoch under way: its shuffle, and the generator that drew it and draws its crops.
        self.generator: torch.Generator | None = None
        self.order: torch.Tensor | None = None
        self._logits: torch.Tensor | None = None

    def total_iterations(self) -> int:
        return self.run["epochs"] * self.epoch_length

    # -- one epoch of minibatches ------------------------------------------------------

    def start_epoch(self, epoch: int) -> None:
        self.generator = torch.Generator().manual_seed(self.run["seed"] * 1_000_003 + epoch)
        self.order = torch.randperm(len(self.x_train), generator=self.generator).to(self.device)

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        _, step = self.epoch_of(iteration)
        size = self.run["batch_size"]
        idx = self.order[(step - 1) * size : step * size]
        return random_crop(self.x_train[idx], self.crop_padding, self.generator), self.y_train[idx]

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        with self.precision.forward():
            logits = self.model(x).float()
        self._logits = logits.detach()
        return F.cross_entropy(logits, y)

    def meter(self, iteration: int) -> SavedTensorMeter | None:
        # Activation memory is measured on the first step of every epoch: the bytes
        # depend on the NFE, which drifts over training, not on the batch.
        return SavedTensorMeter() if self.epoch_of(iteration)[1] == 1 else None

    def step_record(self, iteration, batch, meter) -> dict[str, Any]:
        epoch, step = self.epoch_of(iteration)
        y = batch[1]
        row = {"epoch": epoch, "step": step, "n": len(y),
               "wrong": int((self._logits.argmax(1) != y).sum())}  # fmt: skip
        if meter is not None:
            row["activation_bytes"] = meter.peak_bytes
        return row

    def end_epoch(self, epoch: int) -> None:
        rows = self.history[-self.epoch_length :]
        loss_sum = wrong = seen = 0
        for row in rows:  # in step order, as the sums were always taken
            loss_sum += row["loss"] * row["n"]
            wrong += row["wrong"]
            seen += row["n"]
        seconds = sum(row["seconds"] for row in rows)
        val = evaluate(self.model, self.x_val, self.y_val, self.run["eval_batch_size"],
                       self.precision.forward)  # fmt: skip
        record = EpochRecord(
            epoch=epoch,
            lr=rows[0]["lr"],
            train_loss=loss_sum / seen,
            train_error_pct=100.0 * wrong / seen,
            val_error_pct=val["error_pct"],
            nfe_forward=_mean([r["nfe_forward"] for r in rows]),
            nfe_backward=_mean([r["nfe_backward"] for r in rows]),
            val_nfe_forward=val["nfe_forward"],
            activation_bytes=rows[0]["activation_bytes"],
            activation_nfe_forward=rows[0]["nfe_forward"],
            epoch_seconds=seconds,
            examples_per_s=seen / seconds,
        )
        self.epochs.append(record)
        log.info(
            "epoch %d done: train loss %.4f, val error %.2f%%, %.1f s, nfe_f %.1f nfe_b %.1f",
            epoch, record.train_loss, record.val_error_pct, record.epoch_seconds,
            record.nfe_forward, record.nfe_backward,
        )  # fmt: skip
        if record.val_error_pct < self.best["val_error_pct"]:
            self.best = {
                "val_error_pct": record.val_error_pct,
                "epoch": epoch,
                "state": copy.deepcopy(self.model.state_dict()),
            }

    # -- checkpoints ---------------------------------------------------------------------

    def extra_state(self) -> dict[str, Any]:
        state = {"epochs": [asdict(r) for r in self.epochs], "best": self.best}
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        return state

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.epochs = [EpochRecord(**r) for r in state["epochs"]]
        self.best = state["best"]
        done = len(self.history)
        if done % self.epoch_length:  # stopped mid-epoch: the same shuffle, the crops to come
            self.start_epoch(self.epoch_of(done)[0])
            self.generator.set_state(state["generator"])

    # -- results -------------------------------------------------------------------------

    def test(self) -> dict[str, float] | None:
        """Test error of the best validation epoch's weights (saved as model.pt)."""
        if self.best["state"] is None:
            return None
        self.model.load_state_dict(self.best["state"])
        checkpoint.save_torch(self.out_dir / paths.MODEL, self.best["state"])
        return evaluate(self.model, self.x_test, self.y_test, self.run["eval_batch_size"],
                        self.precision.forward)  # fmt: skip

    def results(self, test: Mapping[str, float] | None) -> dict[str, Any]:
        """The MNIST part of metrics.json (Table 1 and Figure 3 read it)."""
        history = self.epochs
        last = history[-1] if history else None
        return {
            "model": self.run["model"],
            "tol": self.run["tol"],
            "epochs_completed": len(history),
            "test_error_pct": test["error_pct"] if test else None,
            "test_nfe_forward": test["nfe_forward"] if test else None,
            "best_val_error_pct": self.best["val_error_pct"] if test else None,
            "best_epoch": self.best["epoch"] if test else None,
            "nfe_forward": last.nfe_forward if last else None,
            "nfe_backward": last.nfe_backward if last else None,
            "nfe_forward_history": [r.nfe_forward for r in history],
            "nfe_backward_history": [r.nfe_backward for r in history],
            "activation_bytes": last.activation_bytes if last else None,
            "activation_nfe_forward": last.activation_nfe_forward if last else None,
            "activation_bytes_history": [r.activation_bytes for r in history],
            "epoch_seconds": _mean([r.epoch_seconds for r in history]),
            "train_examples_per_s": _mean([r.examples_per_s for r in history]),
            "n_train": len(self.x_train),
            "n_val": len(self.x_val),
            "n_test": len(self.x_test),
        }


STEP_FIELDS = ("epoch", "step", "loss", "nfe_forward", "nfe_backward", "seconds")


def write_history(path: Path, history: list[EpochRecord]) -> None:
    fields = list(EpochRecord.__dataclass_fields__)
    artifacts.write_csv(path, fields, ([getattr(r, f) for f in fields] for r in history))


def train(run: Mapping[str, Any], out_dir: Path, threads: int = 1) -> dict[str, Any]:
    """Train one run into ``out_dir`` and return its metrics (also written to metrics.json).

    A run that diverges or exhausts its solver step budget still writes
    metrics.json, with ``status`` saying why, so the DAG goes on.
    """
    arm = arm_name(run["model"], run["tol"])
    envelope = RunEnvelope.open(run, out_dir, family=FAMILY, arm=arm, threads=threads)
    trainer = Trainer(run, envelope.out_dir, envelope.device)
    log.info(
        "%d parameters, %d training / %d validation / %d test images, %d steps per epoch",
        count_parameters(trainer.model), len(trainer.x_train), len(trainer.x_val),
        len(trainer.x_test), trainer.epoch_length,
    )  # fmt: skip
    with trainer.precision.step():
        outcome = trainer.fit()
        write_history(envelope.out_dir / paths.HISTORY_CSV, trainer.epochs)
        artifacts.write_records(envelope.out_dir / paths.STEPS_CSV, STEP_FIELDS, trainer.history)
        outcome, test = evaluate_completed(outcome, trainer.test, None)
    metrics = envelope.close(outcome, trainer.results(test), params=count_parameters(trainer.model))
    log.info(
        "%s: status %s, test error %s%%, best val error %s%% (epoch %s)",
        arm, outcome.status, metrics["test_error_pct"], metrics["best_val_error_pct"],
        metrics["best_epoch"],
    )  # fmt: skip
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_main("python -m odebench.mnist", "Train one Table 1 arm on MNIST.", train, argv,
                    errors=(FileNotFoundError, ValueError, KeyError, DataError))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
