"""Every path the pipeline writes, in one place (rules, entry points and tests use it).

Layout under ``results/<budget>/`` (a user's run, git-ignored) and, for the committed
reference run, ``reference/<budget>/`` (read, never written, by the pipeline)::

    runs/<family>/<arm>/seed<seed>/   one training run: config.json, metrics.json,
                                      history.csv, steps.csv, train.log (+ git-ignored
                                      checkpoint.pt and model.pt)
    tables/                           tidy tables (csv, md, tex)
    figures/                          png figures
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path("results")
#: The committed reference run: the same layout as ``results/<budget>/`` without
#: checkpoints and weights. The DAG never writes here; its last rule compares a user's
#: run against it (odebench.products.compare).
REFERENCE = Path("reference")


def spirals_data(budget: str) -> Path:
    """The budget's spirals data set (generated, small: kept with the results)."""
    return budget_dir(budget) / "data" / "spirals.npz"


def budget_dir(budget: str) -> Path:
    return RESULTS / budget


def reference_dir(budget: str) -> Path:
    """The committed reference run of a budget (may not exist: only ``cpu`` has one)."""
    return REFERENCE / budget


def in_reference(path: str | Path) -> Path:
    """Where a path under ``results/`` lies in the committed reference run (the same layout
    under ``reference/``); ValueError for a path outside ``results/``."""
    return REFERENCE / Path(path).relative_to(RESULTS)


def snakemake_log(budget: str) -> Path:
    """Snakemake's log of the last invocation that made runs of the budget (kept at its end)."""
    return budget_dir(budget) / "logs" / SNAKEMAKE_LOG


def comparison_md(budget: str) -> Path:
    """A user's run against the committed reference (odebench.products.compare)."""
    return budget_dir(budget) / "comparison.md"


def comparison_csv(budget: str) -> Path:
    """The comparison's numbers, tidy: one row per table, arm and metric."""
    return budget_dir(budget) / "comparison.csv"


def run_dir(budget: str, family: str, arm: str, seed: int | str) -> Path:
    return budget_dir(budget) / "runs" / family / arm / f"seed{seed}"


def tables_dir(budget: str) -> Path:
    return budget_dir(budget) / "tables"


def figures_dir(budget: str) -> Path:
    return budget_dir(budget) / "figures"


def claims_csv(budget: str) -> Path:
    """Every claim of the paper with its verdict (odebench.products.claims)."""
    return budget_dir(budget) / "claims.csv"


def report_pdf(budget: str) -> Path:
    """The report as a PDF (odebench.manuscript), where LaTeX is available."""
    return budget_dir(budget) / "report.pdf"


def report_landing(budget: str) -> Path:
    """The landing page of Snakemake's HTML report: the verdict table (reStructuredText)."""
    return budget_dir(budget) / "report_landing.rst"


def report_md(budget: str) -> Path:
    """The budget's report (odebench.products.report); links figures relative to itself."""
    return budget_dir(budget) / "report.md"


SNAKEMAKE_LOG = "snakemake.log"  # under logs/ of a results (or reference) directory

# Files inside a run directory.
CONFIG_JSON = "config.json"
METRICS_JSON = "metrics.json"
HISTORY_CSV = "history.csv"
STEPS_CSV = "steps.csv"  # one row per training step: loss and NFE
TRAIN_LOG = "train.log"
CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
# Files of a probe of a trained ODE-Net (runs/probe/<arm>/seed<seed>/).
SWEEP_CSV = "sweep.csv"
REVERSIBILITY_CSV = "reversibility.csv"
BACKWARD_NFE_CSV = "backward_nfe.csv"
PROBE_LOG = "probe.log"
# Files of a Table 2 run (runs/spirals/<model>-n<n_obs>/seed<seed>/), besides the above.
PREDICTIONS_CSV = "predictions.csv"  # a few test spirals, for Figure 8
# Files of a CNF run (runs/cnf_density/..., runs/cnf_likelihood/..., runs/cnf_trace/...).
GRID_CSV = "grid.csv"  # the learned density on a grid (Figure 4)
FRAMES_CSV = "frames.csv"  # samples and densities along the flow (Figure 5)
TRACE_CSV = "trace.csv"  # one row per dimension and trace estimator
