"""MNIST classification (Table 1): build a model from a run config, train, evaluate.

One run trains one arm with one seed and writes, into its run directory,
``config.json`` (the resolved run config), ``history.csv`` (one row per epoch),
``metrics.json`` (results, measurements and provenance), ``model.pt`` (the
weights of the best validation epoch) and, while it runs, ``checkpoint.pt``,
from which an interrupted run resumes where it stopped.

Protocol: SGD with momentum, lr scaled by batch/128 and multiplied by
``lr_decay`` at fixed fractions of all training steps; random crops (pad 4) made
on whole batches; the model is selected on the validation split and the test
split is evaluated once, at the end, with the selected weights.

Entry point (the Snakemake rule calls the first form)::

    python -m odebench.mnist --run-config '{...}' --out DIR [--threads N]
    python -m odebench.mnist --model odenet --seed 0 --tol 1e-3 --budget smoke --out DIR
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from odebench.core import artifacts, checkpoint
from odebench.core.measuring import (
    SavedTensorMeter,
    config_hash,
    count_parameters,
    cuda_peak_bytes,
    peak_rss_bytes,
    provenance,
)
from odebench.core.solving import StepBudgetExceeded, reset_nfe, total_nfe
from odebench.mnist.arms import CROP_PADDING, ODE_MODELS
from odebench.mnist.data import DataError, load_mnist
from odebench.mnist.models import build_model
from odebench.pipeline import config as configuration
from odebench.pipeline import paths

log = logging.getLogger(__name__)


#: Layout version of checkpoint.pt; a checkpoint of another layout is not resumed from.
CHECKPOINT_FORMAT = 2


class RunStopped(Exception):
    """Training cannot go on (diverged, step budget exhausted); ``status`` says why."""

    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise configuration.ConfigError("invalid config: device: cuda requested but not available")
    return torch.device(name)


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
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> dict:
    """Error rate (%) and mean forward NFE per batch, without gradients."""
    model.eval()
    wrong, nfes = 0, []
    for start in range(0, len(x), batch_size):
        reset_nfe(model)
        logits = model(x[start : start + batch_size])
        nfes.append(total_nfe(model))
        wrong += int((logits.argmax(1) != y[start : start + batch_size]).sum())
    model.train()
    return {"error_pct": 100.0 * wrong / len(x), "nfe_forward": sum(nfes) / len(nfes)}


def lr_milestones(run: Mapping[str, Any], steps_per_epoch: int) -> list[int]:
    total = run["epochs"] * steps_per_epoch
    return sorted({max(1, round(f * total)) for f in run["lr_milestones"]})


class Trainer:
    """Trains one MNIST run; resumable from its checkpoint."""

    def __init__(self, run: Mapping[str, Any], out_dir: Path, device: torch.device):
        self.run = dict(run)
        self.out_dir = Path(out_dir)
        self.device = device
        self.hash = config_hash(self.run)
        data = load_mnist(Path(run["data"]), device)
        n_train, n_eval = run["train_subset"], run["eval_subset"]
        self.x_train, self.y_train = data["x_train"][:n_train], data["y_train"][:n_train]
        self.x_val, self.y_val = data["x_val"][:n_eval], data["y_val"][:n_eval]
        self.x_test, self.y_test = data["x_test"][:n_eval], data["y_test"][:n_eval]

        torch.manual_seed(run["seed"])
        self.model = build_model(run["model"], run).to(device)
        batch = run["batch_size"]
        self.steps_per_epoch = math.ceil(len(self.x_train) / batch)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=run["lr"] * batch / 128, momentum=run["momentum"]
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, lr_milestones(run, self.steps_per_epoch), gamma=run["lr_decay"]
        )
        self.crop_padding = int(run.get("crop_padding", CROP_PADDING))
        self.history: list[EpochRecord] = []
        # Per training step: epoch, step, loss, nfe_forward, nfe_backward, seconds.
        self.steps: list[list[float]] = []
        self.best = {"val_error_pct": math.inf, "epoch": 0, "state": None}

    # -- checkpointing --------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / paths.CHECKPOINT

    def save_checkpoint(self) -> None:
        checkpoint.save_torch(
            self.checkpoint_path,
            {
                "format": CHECKPOINT_FORMAT,
                "config_hash": self.hash,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "history": [asdict(r) for r in self.history],
                "steps": self.steps,
                "best": self.best,
            },
        )

    def try_resume(self) -> bool:
        if not self.checkpoint_path.is_file():
            return False
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        if state.get("config_hash") != self.hash:
            log.warning("ignoring %s: it belongs to another config", self.checkpoint_path)
            return False
        if state.get("format") != CHECKPOINT_FORMAT:
            log.warning(
                "ignoring %s: checkpoint format %s, this code writes %d; training from scratch",
                self.checkpoint_path, state.get("format"), CHECKPOINT_FORMAT,
            )  # fmt: skip
            return False
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.history = [EpochRecord(**r) for r in state["history"]]
        self.steps = state["steps"]
        self.best = state["best"]
        log.info("resumed from %s after epoch %d", self.checkpoint_path, len(self.history))
        return True

    # -- training -------------------------------------------------------------------

    def train_step(self, x: torch.Tensor, y: torch.Tensor, meter: SavedTensorMeter | None):
        """One SGD step; returns (loss, wrong, nfe_forward, nfe_backward)."""
        reset_nfe(self.model)
        with meter if meter is not None else contextlib.nullcontext():
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            nfe_forward = total_nfe(self.model)
            if not torch.isfinite(loss):
                raise RunStopped("diverged", f"non-finite training loss {loss.item()}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        nfe_backward = total_nfe(self.model) - nfe_forward
        self.optimizer.step()
        self.scheduler.step()
        wrong = int((logits.detach().argmax(1) != y).sum())
        return float(loss.detach()), wrong, nfe_forward, nfe_backward

    def train_epoch(self, epoch: int) -> EpochRecord:
        run = self.run
        generator = torch.Generator().manual_seed(run["seed"] * 1_000_003 + epoch)
        order = torch.randperm(len(self.x_train), generator=generator).to(self.device)
        batch = run["batch_size"]
        lr = self.optimizer.param_groups[0]["lr"]
        loss_sum = wrong = seen = 0
        meter = SavedTensorMeter()
        start = time.perf_counter()
        epoch_steps = []
        for step in range(self.steps_per_epoch):
            step_start = time.perf_counter()
            idx = order[step * batch : (step + 1) * batch]
            x = random_crop(self.x_train[idx], self.crop_padding, generator)
            loss, n_wrong, f, b = self.train_step(
                x, self.y_train[idx], meter if step == 0 else None
            )
            epoch_steps.append([epoch, step + 1, loss, f, b, time.perf_counter() - step_start])
            if step == 0:
                activation_nfe = f
            loss_sum += loss * len(idx)
            wrong += n_wrong
            seen += len(idx)
            if (step + 1) % run["log_every"] == 0 or step + 1 == self.steps_per_epoch:
                elapsed = time.perf_counter() - start
                window = epoch_steps[-run["log_every"] :]
                log.info(
                    "epoch %d/%d iter %d/%d loss %.4f nfe_f %.1f nfe_b %.1f ex/s %.0f",
                    epoch, run["epochs"], step + 1, self.steps_per_epoch, loss,
                    _mean([s[3] for s in window]), _mean([s[4] for s in window]),
                    seen / elapsed,
                )  # fmt: skip
        seconds = time.perf_counter() - start
        self.steps += epoch_steps
        val = evaluate(self.model, self.x_val, self.y_val, run["eval_batch_size"])
        return EpochRecord(
            epoch=epoch,
            lr=lr,
            train_loss=loss_sum / seen,
            train_error_pct=100.0 * wrong / seen,
            val_error_pct=val["error_pct"],
            nfe_forward=_mean([s[3] for s in epoch_steps]),
            nfe_backward=_mean([s[4] for s in epoch_steps]),
            val_nfe_forward=val["nfe_forward"],
            activation_bytes=meter.peak_bytes,
            activation_nfe_forward=activation_nfe,
            epoch_seconds=seconds,
            examples_per_s=seen / seconds,
        )

    def fit(self) -> tuple[str, str]:
        """Train all remaining epochs; returns (status, detail)."""
        self.try_resume()
        for epoch in range(len(self.history) + 1, self.run["epochs"] + 1):
            try:
                record = self.train_epoch(epoch)
            except RunStopped as stop:
                log.error("run stopped in epoch %d: %s", epoch, stop.detail)
                return stop.status, f"epoch {epoch}: {stop.detail}"
            except StepBudgetExceeded as err:
                log.error("run stopped in epoch %d: %s", epoch, err)
                return "step_budget_exhausted", f"epoch {epoch}: {err}"
            self.history.append(record)
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
            if epoch % self.run["checkpoint_every"] == 0 or epoch == self.run["epochs"]:
                self.save_checkpoint()
        return "completed", ""

    def metrics(self, status: str, detail: str, wall_seconds: float, prov: dict) -> dict:
        last = self.history[-1] if self.history else None
        metrics: dict[str, Any] = {
            "family": "mnist",
            "model": self.run["model"],
            "arm": paths.arm_name(self.run["model"], self.run["tol"]),
            "seed": self.run["seed"],
            "tol": self.run["tol"],
            "status": status,
            "status_detail": detail,
            "params": count_parameters(self.model),
            "epochs_completed": len(self.history),
            "test_error_pct": None,
            "test_nfe_forward": None,
            "best_val_error_pct": None,
            "best_epoch": None,
        }
        if status == "completed" and self.best["state"] is not None:
            self.model.load_state_dict(self.best["state"])
            checkpoint.save_torch(self.out_dir / paths.MODEL, self.best["state"])
            test = evaluate(self.model, self.x_test, self.y_test, self.run["eval_batch_size"])
            metrics.update(
                test_error_pct=test["error_pct"],
                test_nfe_forward=test["nfe_forward"],
                best_val_error_pct=self.best["val_error_pct"],
                best_epoch=self.best["epoch"],
            )
        history = self.history
        metrics.update(
            nfe_forward=last.nfe_forward if last else None,
            nfe_backward=last.nfe_backward if last else None,
            nfe_forward_history=[r.nfe_forward for r in history],
            nfe_backward_history=[r.nfe_backward for r in history],
            activation_bytes=last.activation_bytes if last else None,
            activation_nfe_forward=last.activation_nfe_forward if last else None,
            activation_bytes_history=[r.activation_bytes for r in history],
            peak_rss_bytes=peak_rss_bytes(),
            cuda_max_memory_allocated_bytes=cuda_peak_bytes(self.device),
            epoch_seconds=_mean([r.epoch_seconds for r in history]),
            train_examples_per_s=_mean([r.examples_per_s for r in history]),
            n_train=len(self.x_train),
            n_val=len(self.x_val),
            n_test=len(self.x_test),
            wall_seconds=wall_seconds,
            config=self.run,
            provenance=prov,
        )
        return metrics


STEP_FIELDS = ("epoch", "step", "loss", "nfe_forward", "nfe_backward", "seconds")


def write_history(path: Path, history: list[EpochRecord]) -> None:
    fields = list(EpochRecord.__dataclass_fields__)
    artifacts.write_csv(path, fields, ([getattr(r, f) for f in fields] for r in history))


def train(run: Mapping[str, Any], out_dir: Path, threads: int = 1) -> dict[str, Any]:
    """Train one run into ``out_dir`` and return its metrics (also written to metrics.json).

    A run that diverges or exhausts its solver step budget still writes
    metrics.json, with ``status`` saying why, so the DAG goes on.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    device = resolve_device(run["device"])
    artifacts.write_json(out_dir / paths.CONFIG_JSON, dict(run))
    log.info(
        "run %s seed %d on %s, %d threads: %s",
        paths.arm_name(run["model"], run["tol"]), run["seed"], device, threads, json.dumps(run),
    )  # fmt: skip
    # Provenance is taken when the run starts: the code that trained it.
    prov = provenance(run, device, run["seed"]) | {"threads": threads}
    trainer = Trainer(run, out_dir, device)
    log.info(
        "%d parameters, %d training / %d validation / %d test images, %d steps per epoch",
        count_parameters(trainer.model), len(trainer.x_train), len(trainer.x_val),
        len(trainer.x_test), trainer.steps_per_epoch,
    )  # fmt: skip
    status, detail = trainer.fit()
    write_history(out_dir / paths.HISTORY_CSV, trainer.history)
    artifacts.write_csv(out_dir / paths.STEPS_CSV, STEP_FIELDS, trainer.steps)
    metrics = trainer.metrics(status, detail, time.perf_counter() - started, prov)
    artifacts.write_json(out_dir / paths.METRICS_JSON, metrics)
    log.info(
        "%s: status %s, test error %s%%, best val error %s%% (epoch %s)",
        metrics["arm"], status, metrics["test_error_pct"], metrics["best_val_error_pct"],
        metrics["best_epoch"],
    )  # fmt: skip
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.mnist", description="Train one Table 1 arm on MNIST."
    )
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--run-config", help="the resolved run config as JSON (from the rule)")
    parser.add_argument("--configfile", type=Path, default=configuration.DEFAULT_CONFIG)
    parser.add_argument("--budget", help="override config.yaml's budget")
    parser.add_argument("--model", help="mlp | resnet | rknet | odenet | stem")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tol",
        type=float,
        default=None,
        help="solver tolerance of ODE models (default: the budget's first)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    try:
        if args.run_config:
            run = json.loads(args.run_config)
        else:
            if not args.model:
                parser.error("--model is required without --run-config")
            overrides = {"budget": args.budget} if args.budget else {}
            resolved = configuration.resolve(configuration.load(args.configfile, overrides))
            tol = args.tol
            if tol is None and args.model in ODE_MODELS:
                tol = resolved["tolerances"][0]
            run = configuration.mnist_run(resolved, args.model, args.seed, tol)
        train(run, args.out, args.threads)
    except (configuration.ConfigError, DataError) as err:
        print(f"odebench.mnist: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
