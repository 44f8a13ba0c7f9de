"""Training curves read back from the runs: whether each arm's runs converged.

A family that validates during training writes the curve to history.csv's
``val_loss``; :func:`run_convergence` judges one run's curve by
:func:`odebench.core.convergence.judge`, :func:`arm_convergence` every arm's runs.
An arm is as converged as its worst run: its ``convergence`` is the first of
:data:`WORST_FIRST` that one of its runs has, ``n_converged`` counts the runs that
converged, and ``val_fall_max`` / ``val_excess_max`` are the largest fall and excess
among its runs (in units of the loss's scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from odebench.core.convergence import (
    CONVERGED,
    STILL_IMPROVING,
    UNJUDGED,
    UNSTABLE,
    Convergence,
    judge,
)
from odebench.core.paths import HISTORY_CSV
from odebench.core.status import COMPLETED

#: An arm's status is the first of these that one of its runs has.
WORST_FIRST = (UNSTABLE, STILL_IMPROVING, UNJUDGED, CONVERGED)
#: Columns :func:`arm_convergence` adds.
CONVERGENCE_COLUMNS = ("convergence", "n_converged", "val_fall_max", "val_excess_max")


def run_convergence(
    run_dir: Path, fall_limit: float, excess_limit: float, floor: float = 1.0
) -> Convergence:
    """The rule on the validation curve in ``run_dir``'s history.csv (unjudged without one)."""
    path = Path(run_dir) / HISTORY_CSV
    if not path.is_file():
        return Convergence(UNJUDGED, math.nan, math.nan, 0)
    history = pd.read_csv(path)
    if "val_loss" not in history:
        return Convergence(UNJUDGED, math.nan, math.nan, 0)
    curve = history.dropna(subset=["val_loss"])
    return judge(curve["iteration"].tolist(), curve["val_loss"].tolist(), fall_limit,
                 excess_limit, floor)  # fmt: skip


def arm_convergence(
    runs: pd.DataFrame, by: Sequence[str], fall_limit: float, excess_limit: float,
    floor: float = 1.0,
) -> pd.DataFrame:  # fmt: skip
    """One row per arm of ``runs`` (grouped ``by``): :data:`CONVERGENCE_COLUMNS`, over the
    runs that completed (a failed run has no curve to judge; the tables report it)."""
    done = runs[runs["status"].eq(COMPLETED)]
    judged = [run_convergence(Path(d), fall_limit, excess_limit, floor) for d in done["run_dir"]]
    done = done.assign(_status=[c.status for c in judged], _fall=[c.fall for c in judged],
                       _excess=[c.excess for c in judged])  # fmt: skip
    rows = []
    for key, group in done.groupby(list(by), sort=False):
        statuses = set(group["_status"])
        rows.append(dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)) | {
            "convergence": next(s for s in WORST_FIRST if s in statuses),
            "n_converged": int((group["_status"] == CONVERGED).sum()),
            "val_fall_max": group["_fall"].max(),
            "val_excess_max": group["_excess"].max(),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, *CONVERGENCE_COLUMNS])
