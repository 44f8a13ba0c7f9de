"""Tidy tables of the solver studies, from the probes and the training records.

Each function reads the per-run files the DAG names and returns one tidy frame;
figures (:mod:`odebench.products.figures`) read only these tables. Statistics are over
seeds: ``<metric>`` is the mean, ``<metric>_std`` the standard deviation (ddof=1,
empty for one seed) and ``n_seeds`` the count.

======================================  ====================================================
table                                   rows
======================================  ====================================================
``work_precision.csv``                  training tolerance x test-time solver x backend x
                                        tol/steps
``time_vs_nfe.csv``                     training tolerance x solver x backend: linear fit of
                                        seconds on NFE and its R^2 (Fig. 3b)
``nfe_backward_vs_forward.csv``         training steps and one-image probes (one arm per
                                        solver, adjoint scope and adjoint norm), by forward
                                        NFE (Fig. 3c)
``nfe_over_training.csv``               training tolerance x window of training (Fig. 3d)
``reversibility.csv``                   training tolerance x solve tolerance
======================================  ====================================================

The sweep's ``backend`` says whose step-size control took the steps:
:data:`JOINT_BACKENDS` (torchdiffeq's: one step size and one error norm for the whole
batch, as in the paper) or ``torchode`` (each sample's own step size and error norm).

Each has a ``build_<table>`` function, its builder in :mod:`odebench.products.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from odebench.core import artifacts, backends, paths
from odebench.core.status import COMPLETED
from odebench.products.aggregate import run_dirs_of

#: Backends whose step-size control is joint over the batch, torchdiffeq's (``lean`` takes
#: torchdiffeq's steps with less bookkeeping): the paper's setting, read from
#: :data:`odebench.core.backends.BACKENDS`. Figures 3a and 3b and the claims decided on the
#: sweep read only these rows; the work-precision diagram reads every backend.
JOINT_BACKENDS = backends.JOINT_BACKENDS
#: The backend of a sweep.csv without a ``backend`` column: such probes predate the column
#: and were made by torchdiffeq as published.
UNRECORDED_BACKEND = "torchdiffeq"


def joint_control(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a sweep table solved with joint step-size control (:data:`JOINT_BACKENDS`).

    One backend per training tolerance, the first of :data:`JOINT_BACKENDS` present: the
    two take the same steps, and a claim that pooled them would count every test-time
    setting twice. A table without a ``backend`` column predates the column: every row
    is torchdiffeq's.
    """
    if "backend" not in frame:
        return frame
    joint = frame[frame["backend"].isin(JOINT_BACKENDS)]
    groups = joint.groupby("train_tol", sort=False) if "train_tol" in joint else [(None, joint)]
    keep = []
    for _, group in groups:
        first = next(b for b in JOINT_BACKENDS if (group["backend"] == b).any())
        keep.append(group[group["backend"] == first])
    return pd.concat(keep) if keep else joint


def _read_tagged(dirs: Sequence[Path], name: str, meta: str, tol_key: str) -> pd.DataFrame:
    """csv ``name`` of every directory, tagged with the training tolerance and seed.

    ``meta`` is the directory's json holding them: a probe's metrics.json
    (``train_tol``) or a training run's config.json (``tol``).
    """
    frames = []
    for directory in map(Path, dirs):
        info = artifacts.read_json(directory / meta)
        frame = pd.read_csv(directory / name)
        frames.append(frame.assign(train_tol=info[tol_key], seed=info["seed"]))
    if not frames:
        raise ValueError(f"no runs given for {name}")
    return pd.concat(frames, ignore_index=True)


def _read_probe_csv(probe_dirs: Sequence[Path], name: str) -> pd.DataFrame:
    return _read_tagged(probe_dirs, name, paths.METRICS_JSON, "train_tol")


def _read_sweeps(probe_dirs: Sequence[Path]) -> pd.DataFrame:
    """Every probe's sweep.csv; rows of files without a ``backend`` column get
    :data:`UNRECORDED_BACKEND`."""
    sweep = _read_probe_csv(probe_dirs, paths.SWEEP_CSV)
    backend = sweep["backend"] if "backend" in sweep else pd.Series(pd.NA, index=sweep.index)
    sweep["backend"] = backend.fillna(UNRECORDED_BACKEND).astype(str)
    return sweep


def _read_training(train_dirs: Sequence[Path], name: str) -> pd.DataFrame:
    return _read_tagged(train_dirs, name, paths.CONFIG_JSON, "tol")


def over_seeds(frame: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean (named as the metric), ``_std`` and ``n_seeds`` of ``metrics`` per group ``by``."""
    grouped = frame.groupby(list(by), sort=True, dropna=False)
    table = (
        grouped[list(metrics)].mean().join(grouped[list(metrics)].std(ddof=1).add_suffix("_std"))
    )
    table = table[[col for metric in metrics for col in (metric, f"{metric}_std")]]
    table.insert(0, "n_seeds", grouped["seed"].nunique())
    return table.reset_index()


#: One row of work_precision.csv: which network, which test-time solve.
CASE_KEYS = ["train_tol", "solver", "backend", "kind", "tol_or_steps"]


#: The sweep's columns for dopri5's tightest and loosest tolerances on the whole test set
#: (:meth:`odebench.mnist.probe.Probe.tradeoff`); empty in other rows and older probes.
WHOLE_TEST_SET = ("all_images", "all_nfe_forward", "all_test_error_pct")


def work_precision(probe_dirs: Sequence[Path]) -> pd.DataFrame:
    """Error, time, NFE and test error per test-time solver setting and backend (failed
    cases counted). ``seconds`` is the mean over seeds of single solves (one per probe).
    The whole test set's NFE and test error (:data:`WHOLE_TEST_SET`) where the probes
    measured them, with the fewest images any seed's probe classified."""
    sweep = _read_sweeps(probe_dirs)
    completed = sweep[sweep["status"] == COMPLETED].copy()
    whole = all(column in completed for column in WHOLE_TEST_SET)  # probes from before: none
    metrics = ["nfe_forward", "error", "seconds", "test_error_pct"]
    table = over_seeds(completed, CASE_KEYS, metrics + (list(WHOLE_TEST_SET[1:]) if whole else []))
    if whole:
        images = completed.groupby(CASE_KEYS, sort=True, dropna=False)[WHOLE_TEST_SET[0]].min()
        table[WHOLE_TEST_SET[0]] = images.to_numpy()
    failed = sweep[sweep["status"] != COMPLETED]
    counts = failed.groupby(CASE_KEYS).size()
    table["n_failed"] = [
        int(counts.get(tuple(row), 0)) for row in table[CASE_KEYS].itertuples(index=False)
    ]
    return table


def linear_fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Least-squares line y = slope x + intercept and its coefficient of determination."""
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1.0 - (residual**2).sum() / total if total > 0 else float("nan")
    return {"slope": float(slope), "intercept": float(intercept), "r2": float(r2)}


def time_vs_nfe(probe_dirs: Sequence[Path]) -> pd.DataFrame:
    """Per training tolerance, solver and backend: seconds of a forward solve against its NFE.

    Every completed sweep case of every seed is one point; fixed-grid and adaptive
    solvers, and the backends, are fitted separately since their cost per evaluation
    differs.
    """
    sweep = _read_sweeps(probe_dirs)
    sweep = sweep[sweep["status"] == COMPLETED]
    rows = []
    keys = ["train_tol", "solver", "backend"]
    for (train_tol, solver, backend), group in sweep.groupby(keys, sort=True):
        x = group["nfe_forward"].to_numpy(float)
        y = group["seconds"].to_numpy(float)
        fit = linear_fit(x, y) if len(np.unique(x)) > 1 else dict.fromkeys(
            ("slope", "intercept", "r2"), float("nan")
        )  # fmt: skip
        rows.append({
            "train_tol": train_tol, "solver": solver, "backend": backend, "n_points": len(group),
            "n_seeds": group["seed"].nunique(), "nfe_min": x.min(), "nfe_max": x.max(),
            "seconds_per_nfe": fit["slope"], "intercept_seconds": fit["intercept"],
            "r2": fit["r2"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def nfe_backward_vs_forward(train_dirs: Sequence[Path], probe_dirs: Sequence[Path]) -> pd.DataFrame:
    """Backward against forward NFE: every training step, and the one-image probes.

    One row per (source, solver, adjoint scope, training tolerance, forward NFE):
    how many steps or images had that forward NFE and their mean backward NFE.
    ``source`` is ``training`` (batches of the training run, dopri5, full adjoint)
    or ``probe`` (one image at a time with the final weights, one ``solver`` per arm of
    :data:`odebench.mnist.probe.BACKWARD_ARMS`: ``dopri5+seminorm`` is dopri5 with the
    adjoint's seminorm, beside ``dopri5`` with torchdiffeq's full norm).
    """
    steps = _read_training(train_dirs, paths.STEPS_CSV).assign(
        source="training", solver="dopri5", adjoint="full"
    )
    probes = _read_probe_csv(probe_dirs, paths.BACKWARD_NFE_CSV).assign(source="probe")
    both = pd.concat([steps, probes], ignore_index=True)
    keys = ["source", "solver", "adjoint", "train_tol", "nfe_forward"]
    grouped = both.groupby(keys, sort=True)["nfe_backward"]
    table = grouped.agg(count="size", nfe_backward="mean", nfe_backward_std="std").reset_index()
    table["backward_over_forward"] = table["nfe_backward"] / table["nfe_forward"]
    return table


def nfe_over_training(train_dirs: Sequence[Path], bins_per_epoch: int) -> pd.DataFrame:
    """Mean forward and backward NFE per window of training (``bins_per_epoch`` per epoch)."""
    steps = _read_training(train_dirs, paths.STEPS_CSV)
    per_epoch = steps.groupby(["train_tol", "seed", "epoch"])["step"].transform("count")
    rank = steps.groupby(["train_tol", "seed", "epoch"]).cumcount()
    window = (rank * bins_per_epoch // per_epoch).clip(upper=bins_per_epoch - 1)
    # The window's centre in epochs: epoch 1's first window is centred at 0.5 / bins.
    steps = steps.assign(epoch_position=steps["epoch"] - 1 + (window + 0.5) / bins_per_epoch)
    per_run = (
        steps.groupby(["train_tol", "seed", "epoch_position"])[["nfe_forward", "nfe_backward"]]
        .mean()
        .reset_index()
    )
    return over_seeds(per_run, ["train_tol", "epoch_position"], ["nfe_forward", "nfe_backward"])


def reversibility(probe_dirs: Sequence[Path]) -> pd.DataFrame:
    frame = _read_probe_csv(probe_dirs, paths.REVERSIBILITY_CSV)
    return over_seeds(
        frame,
        ["train_tol", "tol"],
        ["reconstruction_error", "grad_rel_error", "nfe_forward", "nfe_reverse",
         "nfe_backward_adjoint"],
    )  # fmt: skip


def _write(table: pd.DataFrame, out: Path) -> None:
    artifacts.write_text(out, table.to_csv(index=False))


# Builders of the registry (odebench.products.registry): inputs are files of the runs,
# the tables above read their run directories.


def build_work_precision(inputs, reference, settings, out: Path) -> None:
    _write(work_precision(run_dirs_of(inputs["sweeps"])), out)


def build_time_vs_nfe(inputs, reference, settings, out: Path) -> None:
    _write(time_vs_nfe(run_dirs_of(inputs["sweeps"])), out)


def build_nfe_backward_vs_forward(inputs, reference, settings, out: Path) -> None:
    _write(
        nfe_backward_vs_forward(run_dirs_of(inputs["steps"]), run_dirs_of(inputs["probes"])), out
    )


def build_nfe_over_training(inputs, reference, settings, out: Path) -> None:
    bins = int(settings["training_bins_per_epoch"])
    _write(nfe_over_training(run_dirs_of(inputs["steps"]), bins), out)


def build_reversibility(inputs, reference, settings, out: Path) -> None:
    _write(reversibility(run_dirs_of(inputs["probes"])), out)
