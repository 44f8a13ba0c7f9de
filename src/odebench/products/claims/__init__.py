"""The paper's claims, and the ones beside it, each decided by code from the aggregated tables.

:data:`CLAIMS` maps a claim's id to a :class:`Claim`: where it comes from (``origin``:
the paper, the stem-only ablation, FFJORD, or our own findings; only the paper's count
in its tally), what it says, the rule that decides it, the products it reads and the
conditions under which a run can test it, and a function that reads only tables under
a tables directory and returns what was measured and the verdict.

A verdict is one of :data:`VERDICTS`: ``untested`` when the run cannot test the claim
(a product or row is missing, too little training, the wrong solver family, too few
seeds; the evidence says why, ``testable_when`` every condition of a test and
``would_test`` the ones this run does not meet),
``inconclusive`` when it is tested but an interval straddles the margin (with the
seeds per arm the observed spread would need), otherwise ``reproduced`` or ``not
reproduced``; every decided claim says how far it is from flipping (``sensitivity``).

Published values come from ``paper/reference.yaml`` (section ``claims`` and the
tables' sections); measured values only from the tables. Comparisons of two arms use
a Welch confidence interval over seeds (:func:`welch_difference`).

:mod:`~odebench.products.claims.verdicts` holds that machinery (verdicts, comparisons,
reading tables, the registry) and :mod:`~odebench.products.claims.conditions` the
testability conditions; the statistics come from :mod:`odebench.products.stats`. The
claims sit in one module per experiment family: :mod:`~odebench.products.claims.mnist`
(Table 1), :mod:`~odebench.products.claims.solver_studies` (memory and Figure 3),
:mod:`~odebench.products.claims.tolerances` (the solve tolerance of a trained ODE-Net,
the probes' findings), :mod:`~odebench.products.claims.spirals` and
:mod:`~odebench.products.claims.cnf`. A family module imports the machinery and, of the
families, only those listed before it.

Entry point::

    python -m odebench.products.claims --tables-dir results/cpu/tables \\
        --reference paper/reference.yaml --out results/cpu/claims.csv
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import yaml

from odebench import families
from odebench.core import artifacts
from odebench.core.cli import command_main
from odebench.products.claims.conditions import MIN_SEEDS, has_rows, min_seeds, near_paper
from odebench.products.claims.verdicts import (
    ABLATION,
    CLAIMS,
    COLUMNS,
    FFJORD,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    ORIGINS,
    OURS,
    PAPER,
    REPRODUCED,
    UNTESTED,
    VERDICTS,
    Claim,
    Comparison,
    Condition,
    Finding,
    ReferenceMissing,
    Tables,
    Untested,
    above_zero,
    all_of,
    claim,
    compare_above,
    compare_not_worse,
    compare_within,
    evaluate,
    evaluate_all,
    not_worse,
    reference_value,
    within_margin,
)
from odebench.products.reference import load_reference
from odebench.products.stats import (
    LEVEL,
    Difference,
    Summary,
    clopper_pearson,
    loglog_slope,
    seeds_needed,
    summary,
    welch_difference,
)

# Importing a family's claims module registers its claims. The modules are those each
# package's family.py names (odebench.families.CLAIM_MODULES), in its order; registration
# order is the order of the rows of claims.csv (the paper's own first) and of the report:
# Table 1, memory and Figure 3, the solve tolerance, then Table 2, then the flows.
for _module in families.CLAIM_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "ABLATION", "CLAIMS", "COLUMNS", "FFJORD", "INCONCLUSIVE", "LEVEL", "MIN_SEEDS",
    "NOT_REPRODUCED", "ORIGINS", "OURS", "PAPER", "REPRODUCED", "UNTESTED", "VERDICTS", "Claim",
    "Comparison", "Condition", "Difference", "Finding", "ReferenceMissing", "Summary", "Tables",
    "Untested", "above_zero", "all_of", "claim", "clopper_pearson", "compare_above",
    "compare_not_worse", "compare_within", "evaluate", "evaluate_all", "has_rows",
    "load_reference", "loglog_slope", "main", "min_seeds", "near_paper", "not_worse",
    "reference_value", "seeds_needed", "summary", "welch_difference", "within_margin",
]  # fmt: skip


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables-dir", type=Path, required=True)
    parser.add_argument("--reference", type=Path, default=Path("paper/reference.yaml"))
    parser.add_argument("--out", type=Path, required=True, help="claims.csv to write")


def _decide(args: argparse.Namespace) -> None:
    if not args.tables_dir.is_dir():
        raise FileNotFoundError(f"no tables directory {args.tables_dir}")
    table = evaluate_all(args.tables_dir, load_reference(args.reference))
    records = table.to_dict("records")
    for record in records:  # true / false in the csv, as the output contract spells it
        record["paper_claim"] = str(bool(record["paper_claim"])).lower()
    artifacts.write_records(args.out, COLUMNS, records)
    paper = table[table["paper_claim"].astype(bool)]
    counts = paper["verdict"].value_counts()
    summary_line = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    print(
        f"wrote {args.out}: {len(table)} claims; the paper's {len(paper)}: {summary_line}",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m odebench.products.claims", __doc__.split("\n")[0],
                        _arguments, _decide, argv,
                        errors=(FileNotFoundError, ReferenceMissing, yaml.YAMLError))  # fmt: skip
