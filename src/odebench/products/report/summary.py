"""The report's opening paragraph: verdict counts, open questions, the headline numbers of
Tables 1 and 2 beside the paper's, and what the run cost."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odebench.products import registry
from odebench.products.report.provenance import elapsed_phrase
from odebench.products.report.runs import load_run_provenance
from odebench.products.report.verdicts import open_questions, verdict_summary


def _read(tables_dir: Path, table: registry.Table) -> pd.DataFrame | None:
    path = tables_dir / table.csv
    return pd.read_csv(path) if path.is_file() else None


def _table1_headline(table: pd.DataFrame, paper_tol: float) -> str:
    """Each model's test error at the paper's tolerance against the paper's number."""
    rows = table[table["tol"].isna() | np.isclose(table["tol"], paper_tol)]
    parts = [
        f"{r.label} {r.test_error_pct_mean:.2f}% against {r.paper_test_error_pct:.2f}% "
        f"({r.test_error_pct_mean - r.paper_test_error_pct:+.2f} pp, {r.n_seeds} seeds)"
        for r in rows.itertuples()
        if pd.notna(r.paper_test_error_pct) and pd.notna(r.test_error_pct_mean)
    ]
    first = table.iloc[0]
    return (f"Table 1 (MNIST test error, {first['epochs']} of the paper's 160 epochs): "
            + "; ".join(parts) + ".")  # fmt: skip


def _table2_headline(table: pd.DataFrame) -> str:
    """The latent ODE's extrapolation RMSE against the paper's (as a ratio) and the RNN's."""
    rows = table[(table["model"] == "latent_ode") & table["paper_rmse"].notna()]
    rnn = table[table["model"] == "rnn"].set_index("n_obs")["rmse_mean"]
    parts = []
    for r in rows.itertuples():
        beside = f"; the RNN here {rnn[r.n_obs]:.3f}" if r.n_obs in rnn.index else ""
        parts.append(
            f"{r.n_obs} observations: {r.rmse_mean:.3f} against the paper's {r.paper_rmse:.4f} "
            f"(×{r.rmse_mean / r.paper_rmse:.1f}, {r.n_seeds} seeds{beside})"
        )
    return "Table 2 (latent ODE extrapolation RMSE): " + "; ".join(parts) + "."


def summary(results: Path, claims: pd.DataFrame, reference: Mapping[str, Any]) -> str:
    """The report's opening paragraph: verdict counts, headline numbers, what the run cost."""
    tables = results / "tables"
    lines = [f"Budget `{results.name}`. {verdict_summary(claims)}"]
    if questions := open_questions(claims):
        lines.append(questions)
    table1 = _read(tables, registry.TABLE1)
    if table1 is not None and len(table1):
        paper_tol = float(reference["tolerances"]["classification"])
        lines.append(_table1_headline(table1, paper_tol))
    table2 = _read(tables, registry.TABLE2)
    if table2 is not None and len(table2):
        lines.append(_table2_headline(table2))
    runs = load_run_provenance(results)
    if not runs.empty:
        wall = pd.to_numeric(runs["wall_seconds"], errors="coerce")
        per_family = wall.groupby(runs["family"]).sum() / 60
        elapsed = elapsed_phrase(results, len(runs))
        lines.append(
            f"Cost: {len(runs)} runs, {wall.sum() / 60:.0f} minutes of run time summed over "
            "them ("
            + ", ".join(f"{f} {m:.0f}" for f, m in per_family.items())
            + "); "
            + (elapsed or "Snakemake ran some side by side, so the DAG's elapsed time is shorter.")
        )
    return "\n\n".join(lines)
