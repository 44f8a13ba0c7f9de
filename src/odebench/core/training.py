"""Resumable iterative training: the one loop that every family trains with.

A subclass of :class:`IterativeTrainer` sets ``model`` and ``optimizer`` (and, if it
uses them, ``scheduler`` and ``grad_clip``) and defines :meth:`~IterativeTrainer.loss`.
:meth:`~IterativeTrainer.fit` then runs :meth:`~IterativeTrainer.total_iterations`
optimizer steps, logs every ``log_every``, checkpoints atomically every
``checkpoint_every`` iterations and after the last one, resumes from a checkpoint
written by the same config and layout (:mod:`odebench.core.checkpoint`), and ends
with an :class:`~odebench.core.status.Outcome` instead of an exception:

- ``completed``;
- ``diverged``: the loss became non-finite;
- ``step_budget_exhausted``: an adaptive solve needed more than ``max_num_steps``.

Families that train in epochs of minibatches (MNIST) set ``epoch_length`` and get
:meth:`~IterativeTrainer.start_epoch` / :meth:`~IterativeTrainer.end_epoch` hooks
(shuffling, validation, best-epoch selection); they still checkpoint by iteration,
so a run killed mid-epoch loses at most ``checkpoint_every`` steps. Whatever a
resume needs beyond model, optimizer, scheduler, history and torch's RNG (a
batch generator, per-epoch records) goes through
:meth:`~IterativeTrainer.extra_state`.

May import torch, torchdiffeq, numpy and :mod:`odebench.core.paths` only.
"""

from __future__ import annotations

import contextlib
import logging
import math
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from odebench.core import checkpoint, paths
from odebench.core.backends import StepBudgetExceeded
from odebench.core.measuring import SavedTensorMeter, config_hash
from odebench.core.run import resolve_device
from odebench.core.solving import reset_nfe, total_nfe
from odebench.core.status import (
    COMPLETED,
    DIVERGED,
    STEP_BUDGET_EXHAUSTED,
    Outcome,
    RunStopped,
)

#: Columns of history.csv of the iteration-based families: one row per iteration.
HISTORY_FIELDS = ("iteration", "loss", "nfe_forward", "nfe_backward", "seconds")
#: history.csv of a family that validates during training: the loop's columns and the
#: validation loss (empty where it was not computed).
VALIDATED_HISTORY_FIELDS = (*HISTORY_FIELDS, "val_loss")

#: ``lr_schedule`` of a run config -> the lr multiplier at iteration ``step`` of ``total``.
LR_SCHEDULES = {
    "constant": lambda step, total: 1.0,
    "cosine": lambda step, total: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total)),
}


def lr_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, iterations: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The per-iteration scheduler of ``schedule`` (:data:`LR_SCHEDULES`) over ``iterations``."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {schedule!r}; known: {', '.join(LR_SCHEDULES)}")
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: LR_SCHEDULES[schedule](step, iterations)
    )


T = TypeVar("T")


class IterativeTrainer:
    """Training for :meth:`total_iterations` optimizer steps, resumable.

    Attributes a subclass sets: ``model``, ``optimizer``; optionally ``scheduler``
    (stepped after every iteration), ``grad_clip`` (max gradient norm) and
    ``epoch_length`` (iterations per epoch, for the epoch hooks).

    ``history`` holds one dict per iteration: ``iteration``, ``loss``, ``nfe_forward``,
    ``nfe_backward``, ``seconds``, the learning rate ``lr`` it stepped with, and
    whatever :meth:`step_record` adds. It is saved with every checkpoint, so its
    length is the number of iterations done.
    """

    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    grad_clip: float | None = None
    epoch_length: int | None = None
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def __init__(
        self,
        run: Mapping[str, Any],
        out_dir: Path,
        logger: logging.Logger,
        device: torch.device | None = None,
    ):
        self.run, self.out_dir, self.log = dict(run), Path(out_dir), logger
        self.device = device if device is not None else resolve_device(run.get("device", "cpu"))
        self.history: list[dict[str, Any]] = []
        self.hash = config_hash(run)

    # -- what a subclass defines -------------------------------------------------------

    def total_iterations(self) -> int:
        return int(self.run["iterations"])

    def batch(self, iteration: int) -> Any:
        """The training batch of ``iteration`` (None: :meth:`loss` draws its own)."""
        return None

    def loss(self, batch: Any) -> torch.Tensor:
        """The loss of one iteration on ``batch``."""
        raise NotImplementedError

    def meter(self, iteration: int) -> SavedTensorMeter | None:
        """A meter of saved-tensor bytes to wrap this iteration's forward and backward in."""
        return None

    def step_record(self, iteration: int, batch: Any, meter: SavedTensorMeter | None) -> dict:
        """What this iteration's history row holds beyond the loss, NFE and seconds."""
        return {}

    def start_epoch(self, epoch: int) -> None:
        """Called before the first iteration of every epoch (``epoch_length`` set)."""

    def end_epoch(self, epoch: int) -> None:
        """Called after the last iteration of every epoch (``epoch_length`` set)."""

    def after_iteration(self, iteration: int, total: int) -> None:
        """Called after every iteration, outside its timed seconds and before the loop
        checkpoints (e.g. validation, whose result the checkpoint must hold)."""

    def extra_state(self) -> dict[str, Any]:
        """State beyond model, optimizer, scheduler, history and torch's RNG that a resume needs."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved (the history is restored already)."""

    # -- where in training ---------------------------------------------------------------

    def epoch_of(self, iteration: int) -> tuple[int, int]:
        """(epoch, step within it), both from 1, of ``iteration`` (needs ``epoch_length``)."""
        assert self.epoch_length is not None
        epoch, step = divmod(iteration - 1, self.epoch_length)
        return epoch + 1, step + 1

    def where(self, iteration: int) -> str:
        """``iteration 7``, or ``epoch 2, iteration 7`` in epochs: what a status detail names."""
        if self.epoch_length is None:
            return f"iteration {iteration}"
        return f"epoch {self.epoch_of(iteration)[0]}, iteration {iteration}"

    def progress(self, iteration: int, total: int) -> str:
        """``iteration 7/40``, or ``epoch 2/3, iteration 7/12`` in epochs (a progress line)."""
        if self.epoch_length is None:
            return f"iteration {iteration}/{total}"
        epochs = -(-total // self.epoch_length)
        return f"epoch {self.epoch_of(iteration)[0]}/{epochs}, iteration {iteration}/{total}"

    # -- checkpoints -----------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / paths.CHECKPOINT

    def save_checkpoint(self) -> None:
        state = {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "history": self.history, "rng": torch.get_rng_state(),
        }  # fmt: skip
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        checkpoint.save(self.checkpoint_path, self.hash, state | self.extra_state())

    def try_resume(self) -> None:
        state = checkpoint.load(self.checkpoint_path, self.hash)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.history = state["history"]
        torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.load_extra_state(state)
        self.log.info("resumed from %s after iteration %d", self.checkpoint_path,
                      len(self.history))  # fmt: skip

    # -- the loop --------------------------------------------------------------------------

    def train_step(
        self, batch: Any, meter: SavedTensorMeter | None = None
    ) -> tuple[float, int, int]:
        """One optimizer step on ``batch``; returns (loss, forward NFE, backward NFE).

        ``meter``, if given, measures the bytes saved for backward during forward and
        backward. Raises :class:`~odebench.core.status.RunStopped` on a non-finite loss
        (before the step, so the weights stay finite) and lets
        :class:`~odebench.core.backends.StepBudgetExceeded` through.
        """
        self.optimizer.zero_grad(set_to_none=True)
        reset_nfe(self.model)
        with meter if meter is not None else contextlib.nullcontext():
            loss = self.loss(batch)
            forward = total_nfe(self.model)
            # torch.isfinite on a loss that requires grad records an abs() whose saved
            # input (the 4-byte loss) the meter counts: kept, so that activation bytes
            # stay comparable with every run measured so far.
            if not torch.isfinite(loss):
                raise RunStopped(DIVERGED, f"non-finite loss {loss.item()}")
            loss.backward()
        backward = total_nfe(self.model) - forward
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(self.grad_clip))
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.item(), forward, backward

    def _iterate(self, iteration: int, total: int) -> None:
        started = time.perf_counter()
        if self.epoch_length is not None and self.epoch_of(iteration)[1] == 1:
            self.start_epoch(self.epoch_of(iteration)[0])
        lr = self.optimizer.param_groups[0]["lr"]
        batch = self.batch(iteration)
        meter = self.meter(iteration)
        loss, forward, backward = self.train_step(batch, meter)
        row = {
            "iteration": iteration,
            "loss": loss,
            "nfe_forward": forward,
            "nfe_backward": backward,
            "lr": lr,
        } | self.step_record(iteration, batch, meter)
        row["seconds"] = time.perf_counter() - started
        self.history.append(row)
        end_of_epoch = self.epoch_length is not None and iteration % self.epoch_length == 0
        if iteration % int(self.run["log_every"]) == 0 or iteration == total or end_of_epoch:
            self.log.info("%s: loss %.4f, nfe_f %d, nfe_b %d, %.3f s",
                          self.progress(iteration, total), loss, forward, backward,
                          row["seconds"])  # fmt: skip
        if end_of_epoch:
            self.end_epoch(self.epoch_of(iteration)[0])

    def fit(self) -> Outcome:
        """Train to the end, or to the first failure, resuming from a checkpoint if there is one."""
        self.try_resume()
        total = self.total_iterations()
        every = int(self.run["checkpoint_every"])
        for iteration in range(len(self.history) + 1, total + 1):
            try:
                self._iterate(iteration, total)
                self.after_iteration(iteration, total)
            except (RunStopped, StepBudgetExceeded) as err:
                outcome = stopped_by(err, self.where(iteration))
                self.log.error("run stopped: %s: %s", outcome.status, outcome.detail)
                return outcome
            if iteration % every == 0 or iteration == total:
                self.save_checkpoint()
        return Outcome(COMPLETED)

    def summary(self) -> dict[str, Any]:
        """What an iteration-based run's metrics.json says of its training, from the history.

        NFE are per iteration, averaged over the last tenth of training (0 for models
        without an ODE); seconds per iteration is the median over all iterations.
        """
        history = self.history
        tail = history[-max(1, len(history) // 10) :]

        def tail_mean(key: str) -> float | None:
            return sum(row[key] for row in tail) / len(tail) if tail else None

        return {
            "iterations_completed": len(history),
            "final_loss": history[-1]["loss"] if history else None,
            "nfe_forward": tail_mean("nfe_forward"),
            "nfe_backward": tail_mean("nfe_backward"),
            "seconds_per_iteration": statistics.median(r["seconds"] for r in history)
            if history else None,
        }  # fmt: skip


def stopped_by(err: RunStopped | StepBudgetExceeded, where: str) -> Outcome:
    """The outcome of a run that ``err`` stopped ``where`` (``iteration 7``, ``evaluation``)."""
    if isinstance(err, RunStopped):
        return Outcome(err.status, f"{where}: {err.detail}")
    return Outcome(STEP_BUDGET_EXHAUSTED, f"{where}: {err}")


def evaluate_completed(outcome: Outcome, evaluate: Callable[[], T], empty: T) -> tuple[Outcome, T]:
    """The final evaluation of a run that completed training, else ``empty``.

    A solve that runs out of steps while evaluating ends the run with
    ``step_budget_exhausted`` (detail ``evaluation: ...``) instead of a traceback.
    """
    if not outcome.completed:
        return outcome, empty
    try:
        return outcome, evaluate()
    except StepBudgetExceeded as err:
        return stopped_by(err, "evaluation"), empty
