"""The runs a budget made: one record per run's ``metrics.json`` under ``runs/``, and the
per-seed section that lists their headline values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from odebench.core import artifacts, paths
from odebench.core.status import COMPLETED
from odebench.products.report.text import number
from odebench.products.tables.formatting import markdown_table

#: Run family -> the headline metric whose per-seed values the report lists, and its name.
PER_SEED = {
    "mnist": ("test_error_pct", "test error %"),
    "spirals": ("rmse", "extrapolation RMSE"),
    "cnf_density": ("kl", "KL(q‖p), nats"),
    "cnf_likelihood": ("test_nll", "test NLL, nats"),
}
#: Arms with this many seeds or fewer list every seed's value.
PER_SEED_MAX_N = 5


def load_run_provenance(results: Path) -> pd.DataFrame:
    """One row per run's metrics.json under ``runs/<family>/<arm>/seed<seed>/``: what ran
    (family, arm, seed), its headline value and status, its wall time and its provenance
    (commit, device, threads, training length, the whole ``provenance`` record)."""
    records = []
    for path in sorted((results / "runs").glob(f"*/*/seed*/{paths.METRICS_JSON}")):
        metrics = artifacts.read_json(path)
        provenance = metrics.get("provenance") or {}
        config = metrics.get("config") or {}
        records.append(
            {
                "path": path,
                "family": path.parents[2].name,
                "arm": path.parents[1].name,
                "seed": metrics.get("seed"),
                "value": metrics.get(PER_SEED.get(path.parents[2].name, ("",))[0]),
                "status": metrics.get("status", ""),
                "wall_seconds": metrics.get("wall_seconds"),
                "git_commit": provenance.get("git_commit"),
                "device": provenance.get("device"),
                "threads": provenance.get("torch_threads", provenance.get("threads")),
                "epochs": config.get("epochs"),
                "iterations": config.get("iterations"),
                "provenance": provenance,
            }
        )
    return pd.DataFrame(records)


def per_seed_section(results: Path) -> str:
    """Every seed's headline value, for arms with few seeds: means over 2 seeds hide a lot."""
    runs = load_run_provenance(results)
    if runs.empty:
        return "No run's `metrics.json` under `runs/`."
    rows = []
    for family, (_, label) in PER_SEED.items():
        for arm, group in runs[runs["family"] == family].groupby("arm", sort=False):
            if len(group) > PER_SEED_MAX_N:
                continue
            values = "; ".join(
                f"seed {r.seed}: {number(r.value)}" + ("" if r.status == COMPLETED
                                                       else f" ({r.status})")
                for r in group.sort_values("seed").itertuples()
            )  # fmt: skip
            rows.append([family, arm, label, str(len(group)), values])
    if not rows:
        return f"Every arm has more than {PER_SEED_MAX_N} seeds."
    return markdown_table(["family", "arm", "metric", "n", "per seed"], rows)
