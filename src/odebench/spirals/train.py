"""Table 2 (spiral extrapolation): build a sequence model from a run config, train, evaluate.

One run trains one model (``latent_ode``, ``rnn``, ``rnn_dt``, or one of the
references ``hold_last`` and ``linear``, which have nothing to train) at one
number of observations ``n_obs`` with one seed. Each trajectory keeps ``n_obs``
of its first 100 points, drawn without replacement (sorted), with its own seed
per split: training ``1000 + seed``, test ``2000 + seed``, validation ``3000 +
seed``. The metric is the RMSE of the 100 points after the observed window
(extrapolation) against the noise-free trajectory, over all held-out spirals; the
RMSE on the observed window (against the noise-free truth) is reported beside it.

Validation and selection. A share ``val_fraction`` (default 0.1) of the training
spirals is held out for validation, chosen by the data seed alone (the same share
of each direction), so every model and seed is selected on the same spirals.
Every ``eval_every`` iterations (default 50) and after the last one, the
validation loss is the model's own training loss on them, in eval mode and
without gradients; the latent ODE then takes z0 at the posterior mean, so that
the loss is deterministic. The weights with the lowest validation loss are kept
(and checkpointed, so that a resumed run keeps them) and the test split is
evaluated with them, not with the last iterate, which a loss spike late in
training can leave far from the best weights the run had. A run whose validation
loss is never finite ends ``diverged``. With ``val_fraction: 0`` the last iterate
is evaluated.

A run directory holds ``config.json``, ``metrics.json`` (opened and closed by
:class:`~odebench.core.run.RunEnvelope`), ``history.csv`` (one row per iteration:
loss, NFE forward and backward, seconds, and the validation loss where it was
computed), ``predictions.csv`` (a few test spirals for Figure 8: truth,
observations, the model's reconstruction and extrapolation, and for the latent
ODE its latent path projected to 2-D) and, while it runs, ``checkpoint.pt``. The
run config's ``device`` (default cpu) holds model and data.

    python -m odebench.spirals train --run-config '{...}' --out DIR [--threads N]
"""

from __future__ import annotations

import copy
import logging
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from odebench.core import artifacts, paths
from odebench.core.backends import StepBudgetExceeded
from odebench.core.cli import run_main
from odebench.core.measuring import count_parameters
from odebench.core.run import RunEnvelope
from odebench.core.status import COMPLETED, DIVERGED, Outcome
from odebench.core.training import (
    VALIDATED_HISTORY_FIELDS,
    IterativeTrainer,
    evaluate_completed,
    lr_scheduler,
)
from odebench.spirals.data import load_spirals, subsample
from odebench.spirals.family import spirals_arm
from odebench.spirals.models import LatentODE, build_sequence_model

log = logging.getLogger(__name__)

#: ``family`` of every Table 2 run's metrics.json.
FAMILY = "spirals"
PREDICTION_FIELDS = ("spiral", "kind", "t", "x", "y")
#: history.csv: the loop's columns and the validation loss (empty where not computed).
SPIRALS_HISTORY_FIELDS = VALIDATED_HISTORY_FIELDS

#: Defaults of the run config keys that select on validation.
VAL_FRACTION, EVAL_EVERY = 0.1, 50
#: Seed offsets of each split's observation subsets (``offset + seed``).
TRAIN_OFFSET, TEST_OFFSET, VAL_OFFSET = 1000, 2000, 3000
#: Mixed with the data seed to choose the validation spirals (a stream of its own).
VAL_STREAM = 7919


def rmse(prediction: torch.Tensor, truth: torch.Tensor) -> float:
    """Root mean squared error over every trajectory, time point and coordinate."""
    return float(torch.sqrt(((prediction - truth) ** 2).mean()))


def validation_mask(data: Mapping[str, Any], val_fraction: float) -> np.ndarray:
    """Which spirals validate: ``val_fraction`` of the training spirals of each direction.

    The choice depends on the data alone (its seed, split and directions), never on
    a run's seed or model, so that every arm is selected on the same spirals. A
    positive fraction keeps at least one spiral of each direction that has two.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng([int(data["spec"].get("seed", 0)), VAL_STREAM])
    mask = np.zeros(len(data["is_test"]), dtype=bool)
    for sign in (1, -1):
        members = np.flatnonzero(~data["is_test"] & (data["direction"] == sign))
        count = round(val_fraction * len(members))
        if val_fraction > 0 and len(members) > 1:
            count = max(count, 1)
        mask[rng.choice(members, count, replace=False)] = True
    return mask


class SplitData:
    """The spirals of ``mask``, subsampled to ``n_obs`` points per trajectory, on ``device``.

    The subsample is drawn with NumPy on the host, so it is the same on every device.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        mask: np.ndarray,
        n_obs: int,
        seed: int,
        device: torch.device | str = "cpu",
    ):
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

    def __len__(self) -> int:
        return len(self.x)


class SequenceTrainer(IterativeTrainer):
    """Trains one Table 2 run, full batch, selecting on validation; resumable from its checkpoint.

    A model without parameters (the references) is not trained: :meth:`fit` only
    takes its validation loss (as at iteration 0) and returns.
    """

    def __init__(self, run: Mapping[str, Any], out_dir: Path, device: torch.device | None = None):
        super().__init__(run, out_dir, log, device)
        data = load_spirals(Path(run["data"]))
        self.data_spec = data["spec"]
        self.eval_every = int(run.get("eval_every", EVAL_EVERY))
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be at least 1, got {self.eval_every}")
        val = validation_mask(data, float(run.get("val_fraction", VAL_FRACTION)))
        # Observation subsets depend on the seed, so seeds also vary the sampling.
        n_obs, seed = int(run["n_obs"]), int(run["seed"])
        self.train = SplitData(data, ~data["is_test"] & ~val, n_obs, TRAIN_OFFSET + seed,
                               self.device)  # fmt: skip
        self.val = None
        if val.any():
            self.val = SplitData(data, val, n_obs, VAL_OFFSET + seed, self.device)
        self.test = SplitData(data, data["is_test"], n_obs, TEST_OFFSET + seed, self.device)
        # Built on the CPU and then moved: the same initial weights on every device.
        torch.manual_seed(seed)
        self.model = build_sequence_model(run["model"], run).to(self.device)
        self.model.set_training_times(self.train.times)
        #: iteration, validation loss and a copy of the weights of the best validation so far
        self.best: dict[str, Any] = {"iteration": None, "val_loss": None, "state": None}
        self.trainable = count_parameters(self.model) > 0
        if not self.trainable:
            return
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(run["lr"]))
        # Cosine decay of the learning rate to 0 over the run (``lr_schedule: cosine``);
        # ``constant`` keeps torchdiffeq's example setting. Gradients are clipped to
        # ``grad_clip`` in norm when it is set.
        self.scheduler = lr_scheduler(self.optimizer, run.get("lr_schedule", "constant"),
                                      int(run["iterations"]))  # fmt: skip
        self.grad_clip = run.get("grad_clip")

    def loss(self, batch: None) -> torch.Tensor:
        train = self.train
        return self.model.loss(train.x, train.times, train.index, train.grid)

    # -- validation and selection ------------------------------------------------------

    def validation_loss(self) -> float:
        """The model's training loss on the validation spirals: eval mode, no gradients.

        A solve that runs out of steps here gives NaN (never selected) instead of
        stopping a run whose training goes on.
        """
        val, model = self.val, self.model
        model.eval()
        try:
            with torch.no_grad():
                return float(model.loss(val.x, val.times, val.index, val.grid))
        except StepBudgetExceeded as err:
            log.warning("validation solve ran out of steps (%s): validation loss NaN", err)
            return math.nan
        finally:
            model.train()

    def validate(self, iteration: int) -> float:
        """The validation loss after ``iteration``; keeps the weights if they are the best yet."""
        loss = self.validation_loss()
        best = self.best["val_loss"]
        if math.isfinite(loss) and (best is None or loss < best):
            state = copy.deepcopy(self.model.state_dict())
            self.best = {"iteration": iteration, "val_loss": loss, "state": state}
        log.info("iteration %d: validation loss %.4f (best %s at iteration %s)", iteration, loss,
                 f"{self.best['val_loss']:.4f}" if self.best["val_loss"] is not None else None,
                 self.best["iteration"])  # fmt: skip
        return loss

    def after_iteration(self, iteration: int, total: int) -> None:
        # Before fit() checkpoints, so that the checkpoint holds the best so far.
        if self.val is not None and (iteration % self.eval_every == 0 or iteration == total):
            self.history[-1]["val_loss"] = self.validate(iteration)

    def fit(self) -> Outcome:
        """Train (a model without parameters: validate once, as iteration 0).

        A run whose validation loss is finite at no evaluation ends ``diverged``.
        """
        if not self.trainable:
            if self.val is not None:
                self.validate(0)
            outcome = Outcome(COMPLETED)
        else:
            outcome = super().fit()
        if outcome.completed and self.val is not None and self.best["state"] is None:
            return Outcome(DIVERGED, "validation loss non-finite at every evaluation")
        return outcome

    def extra_state(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.best = dict(state["best"])

    # -- evaluation --------------------------------------------------------------------

    def evaluate(self) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Test extrapolation and window RMSE with the best weights, and Figure 8's rows."""
        test, model = self.test, self.model
        if self.best["state"] is not None:
            model.load_state_dict(self.best["state"])
        window = len(test.grid)
        model.eval()
        if isinstance(model, LatentODE):
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
    arm = spirals_arm(run["model"], int(run["n_obs"]))
    envelope = RunEnvelope.open(run, out_dir, family=FAMILY, arm=arm, threads=threads)
    trainer = SequenceTrainer(run, envelope.out_dir, envelope.device)
    outcome = trainer.fit()
    outcome, (scores, rows) = evaluate_completed(outcome, trainer.evaluate, ({}, []))
    artifacts.write_records(envelope.out_dir / paths.HISTORY_CSV, SPIRALS_HISTORY_FIELDS,
                            trainer.history)  # fmt: skip
    artifacts.write_records(envelope.out_dir / paths.PREDICTIONS_CSV, PREDICTION_FIELDS, rows)
    results = {
        "model": run["model"],
        "n_obs": run["n_obs"],
        "rmse": scores.get("rmse"),
        "rmse_window": scores.get("rmse_window"),
        # iterations, final loss, NFE (0 for the RNNs; None for the references, which
        # do no iterations), s / iteration
        **trainer.summary(),
        "best_iteration": trainer.best["iteration"],
        "best_val_loss": trainer.best["val_loss"],
        "n_train": len(trainer.train),
        "n_val": len(trainer.val) if trainer.val is not None else 0,
        "n_test": len(trainer.test),
        "data_spec": trainer.data_spec,
    }
    metrics = envelope.close(outcome, results, params=count_parameters(trainer.model))
    log.info("%s: status %s, extrapolation RMSE %s (best validation at iteration %s)", arm,
             outcome.status, metrics["rmse"], metrics["best_iteration"])  # fmt: skip
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_main("python -m odebench.spirals train", "Train one Table 2 run.", train, argv)


if __name__ == "__main__":
    sys.exit(main())
