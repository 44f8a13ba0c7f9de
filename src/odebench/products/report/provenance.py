"""How the runs were made: their commits, devices, packages and wall time per family, and
the elapsed time of the Snakemake invocation that made them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.core import paths
from odebench.core.status import COMPLETED
from odebench.products import invocation
from odebench.products.report.runs import load_run_provenance
from odebench.products.tables.formatting import markdown_table


def _values(series: pd.Series) -> str:
    """The distinct values of a column, sorted (whole floats as integers: epochs 3, not 3.0)."""
    values = sorted(
        {
            str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
            for v in series.dropna()
        }
    )
    return ", ".join(values) if values else "–"


def short_commit(commit: Any) -> Any:
    """``65cc8cab88a8-dirty``: a commit's first 12 characters, and whether the tree was dirty."""
    if not isinstance(commit, str):
        return commit
    sha, dirty, _ = commit.partition("-dirty")
    return sha[:12] + dirty


def run_commits(runs: pd.DataFrame) -> list[str]:
    """The distinct commits (``-dirty`` kept) that made the runs of
    :func:`~odebench.products.report.runs.load_run_provenance`."""
    return sorted({c for c in runs.get("git_commit", []) if isinstance(c, str)})


def commits_statement(runs: pd.DataFrame) -> str:
    """Which commit made the runs, and whether its tree had uncommitted changes."""
    commits = run_commits(runs)
    dirty = sum(isinstance(c, str) and c.endswith("-dirty") for c in runs["git_commit"])
    if len(commits) == 1:
        clean = ("with uncommitted changes (`-dirty`)" if dirty
                 else "from a clean tree (no uncommitted changes)")  # fmt: skip
        commit = short_commit(commits[0])
        return f"all {len(runs)} runs were made by one commit, `{commit}`, {clean}"
    shas = {c.partition("-dirty")[0] for c in commits}
    return (f"the {len(runs)} runs come from {len(shas)} commits; {dirty} runs from a tree "
            "with uncommitted changes (`-dirty`)")  # fmt: skip


def elapsed_phrase(results: Path, runs: int) -> str | None:
    """Snakemake's elapsed time, where its log was kept, and whether that invocation made
    every run or only some (a resumed DAG, or runs made by earlier invocations)."""
    found = invocation.of_results(results)
    if found is None:
        return None
    clock = invocation.clock(found.elapsed)
    if found.runs_made == runs and len(found.jobs) == found.planned:
        return f"one Snakemake invocation made every run and product in {clock} (see Provenance)."
    return (
        f"the last Snakemake invocation that ran jobs made {found.runs_made} of the {runs} "
        f"runs in {clock}; the others came from earlier invocations (see Provenance)."
    )


def provenance_section(results: Path) -> str:
    runs = load_run_provenance(results)
    budget = results.name
    if runs.empty:
        return f"Budget `{budget}`. No run's `metrics.json` under `runs/`."
    families = []
    for family, group in runs.groupby("family", sort=True):
        wall = pd.to_numeric(group["wall_seconds"], errors="coerce").sum()
        completed = int((group["status"] == COMPLETED).sum())
        length = [f"epochs {_values(group['epochs'])}"] if group["epochs"].notna().any() else []
        if group["iterations"].notna().any():
            length.append(f"iterations {_values(group['iterations'])}")
        families.append(
            [family, str(len(group)), str(completed), _values(group["seed"]),
             "; ".join(length) or "–", _values(group["git_commit"].map(short_commit)),
             f"{wall:.0f}",
             f"{wall / 60:.1f}"]
        )  # fmt: skip
    total = pd.to_numeric(runs["wall_seconds"], errors="coerce").sum()
    families.append(["**all**", str(len(runs)), str(int((runs["status"] == COMPLETED).sum())),
                     "", "", "", f"{total:.0f}", f"{total / 60:.1f}"])  # fmt: skip
    table = markdown_table(
        ["family", "runs", "completed", "seeds", "length", "git commit", "wall s (sum)",
         "wall min (sum)"],
        families,
    )  # fmt: skip
    example = runs.iloc[0]
    packages = example["provenance"].get("packages") or {}
    lines = [
        f"- Budget: `{budget}`.",
        f"- Commit: {commits_statement(runs)}. Per family, see the table below (a commit "
        "ending in `-dirty` had uncommitted changes).",
        f"- Devices: {_values(runs['device'])}; torch threads per run: {_values(runs['threads'])}.",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in packages.items()) + ".",
    ]
    relative = example["path"].relative_to(results)
    dag = invocation.describe(results / "logs" / paths.SNAKEMAKE_LOG)
    return (
        "\n".join(lines)
        + ("\n\n" + dag if dag else "")
        + "\n\nWall time per experiment family, summed over its runs' `wall_seconds` (jobs ran "
        "in parallel, so the DAG's elapsed time is shorter):\n\n"
        + table
        + f"\nProvenance of one run (`{relative}`):\n\n```json\n"
        + json.dumps(example["provenance"], indent=2, sort_keys=True)
        + "\n```"
    )
