"""From per-run metrics.json files to tidy per-arm summaries over seeds.

Every table is built the same way: :func:`load_runs` reads the runs the DAG
names (never a glob, so a table shows exactly the configured arms), then
:func:`summarise` gives one row per arm with ``mean``, ``std`` (ddof=1; empty
for one seed) and ``n`` of each metric over the seeds that completed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from odebench.core.artifacts import read_json
from odebench.core.status import COMPLETED


def load_runs(metrics_files: Iterable[Path]) -> pd.DataFrame:
    """One row per run: identifiers plus the scalar entries of metrics.json."""
    rows = []
    for path in metrics_files:
        metrics = read_json(Path(path))
        row = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
        for key, value in metrics.get("config", {}).items():
            if not isinstance(value, (dict, list)):
                row[f"config_{key}"] = value
        row["run_dir"] = str(Path(path).parent)
        rows.append(row)
    if not rows:
        raise ValueError("no runs given")
    return pd.DataFrame(rows)


def run_dirs_of(files: Iterable[Path]) -> list[Path]:
    """The run directories holding ``files`` (a builder's inputs are files of runs)."""
    return [Path(f).parent for f in files]


def summarise(runs: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, std and n over seeds of ``metrics`` for each group ``by``.

    Only completed runs enter the statistics; ``n_failed`` and ``failure`` report
    the others, so a table never hides a run that diverged or ran out of solver steps.
    """
    completed = runs["status"].eq(COMPLETED)
    rows = []
    for key, group in runs.groupby(list(by), dropna=False, sort=False):
        ok = group[completed[group.index]]
        failed = group[~completed[group.index]]
        row = dict(zip(by, key, strict=True))
        row["n_seeds"] = len(ok)
        row["n_failed"] = len(failed)
        row["failure"] = "; ".join(failed["status_detail"].astype(str))
        for metric in metrics:
            values = pd.to_numeric(ok[metric], errors="coerce").dropna()
            row[f"{metric}_mean"] = values.mean() if len(values) else float("nan")
            row[f"{metric}_std"] = values.std(ddof=1) if len(values) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)
