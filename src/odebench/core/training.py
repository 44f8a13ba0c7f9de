"""Iterative training with resumable checkpoints: the loop the spirals and CNF families share.

A subclass of :class:`IterativeTrainer` sets ``model`` and ``optimizer`` (and, if it
uses them, ``scheduler`` and ``grad_clip``) and defines :meth:`~IterativeTrainer.loss`.
:meth:`~IterativeTrainer.fit` then runs ``run["iterations"]`` steps, logs every
``log_every``, checkpoints atomically every ``checkpoint_every`` (model, optimizer,
scheduler, history, torch's RNG state and whatever :meth:`~IterativeTrainer.extra_state`
adds), resumes from a checkpoint written by the same config and layout, and ends with
a status instead of an exception:

- ``completed``;
- ``diverged``: the loss became non-finite;
- ``step_budget_exhausted``: an adaptive solve needed more than ``max_num_steps``.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from odebench.core import checkpoint
from odebench.core.measuring import config_hash
from odebench.core.solving import StepBudgetExceeded, reset_nfe, total_nfe
from odebench.pipeline import paths

#: Columns of history.csv: one row per iteration.
HISTORY_FIELDS = ("iteration", "loss", "nfe_forward", "nfe_backward", "seconds")


class IterativeTrainer:
    """Full-batch or minibatch training for ``run["iterations"]`` steps, resumable.

    Attributes a subclass sets: ``model``, ``optimizer``; optionally ``scheduler``
    (stepped after every iteration) and ``grad_clip`` (max gradient norm).
    """

    #: Layout version of checkpoint.pt; a checkpoint of another layout is not resumed from.
    checkpoint_format = 1
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    grad_clip: float | None = None
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def __init__(self, run: Mapping[str, Any], out_dir: Path, logger: logging.Logger):
        self.run, self.out_dir, self.log = dict(run), Path(out_dir), logger
        self.history: list[dict[str, Any]] = []
        self.hash = config_hash(run)

    def loss(self) -> torch.Tensor:
        """The loss of one iteration (the training batch is the subclass's business)."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        """State beyond model, optimizer, scheduler and torch's RNG that a resume needs."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / paths.CHECKPOINT

    def save_checkpoint(self) -> None:
        state = {
            "format": self.checkpoint_format, "config_hash": self.hash,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "history": self.history, "rng": torch.get_rng_state(),
        }  # fmt: skip
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        checkpoint.save_torch(self.checkpoint_path, state | self.extra_state())

    def try_resume(self) -> None:
        state = checkpoint.load_checkpoint(self.checkpoint_path, self.checkpoint_format, self.hash)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.history = state["history"]
        torch.set_rng_state(state["rng"])
        self.load_extra_state(state)
        self.log.info("resumed from %s after iteration %d", self.checkpoint_path,
                      len(self.history))  # fmt: skip

    def fit(self) -> tuple[str, str]:
        """Train to the end, or to the first failure; returns (status, detail)."""
        self.try_resume()
        iterations = int(self.run["iterations"])
        for iteration in range(len(self.history) + 1, iterations + 1):
            started = time.perf_counter()
            self.optimizer.zero_grad(set_to_none=True)
            reset_nfe(self.model)
            try:
                loss = self.loss()
                forward = total_nfe(self.model)
                if not math.isfinite(loss.item()):
                    return "diverged", f"non-finite loss at iteration {iteration}"
                loss.backward()
            except StepBudgetExceeded as err:
                return "step_budget_exhausted", f"iteration {iteration}: {err}"
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(self.grad_clip))
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            self.history.append({
                "iteration": iteration, "loss": loss.item(), "nfe_forward": forward,
                "nfe_backward": total_nfe(self.model) - forward,
                "seconds": time.perf_counter() - started,
            })  # fmt: skip
            if iteration % int(self.run["log_every"]) == 0 or iteration == iterations:
                row = self.history[-1]
                self.log.info("iteration %d/%d loss %.4f nfe_f %d nfe_b %d %.3f s", iteration,
                              iterations, row["loss"], row["nfe_forward"], row["nfe_backward"],
                              row["seconds"])  # fmt: skip
            if iteration % int(self.run["checkpoint_every"]) == 0:
                self.save_checkpoint()
        return "completed", ""

    def summary(self) -> dict[str, Any]:
        """What every run's metrics.json says of its training, from the history.

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
