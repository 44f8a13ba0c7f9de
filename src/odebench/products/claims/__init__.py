"""The paper's claims, each decided by code from the aggregated tables.

:data:`CLAIMS` maps a claim's id to a :class:`Claim`: what the paper says, the
rule that decides it, and a function that reads only tables under a tables
directory and returns what was measured and the verdict. A verdict is
``reproduced``, ``not reproduced`` or ``inconclusive``; a claim whose table is
missing, or lacks the rows it needs, is inconclusive and its evidence names the
file and the rows, so the claims table builds on any subset of the products.

Published values come from ``paper/reference.yaml`` (section ``claims`` and the
tables' sections); measured values only from the tables. Comparisons of two
arms use a Welch confidence interval over seeds (:func:`welch_difference`): with
one seed, or without a std, there is no interval and the verdict is
inconclusive, because with so few seeds a difference is not evidence.

:mod:`~odebench.products.claims.verdicts` holds that machinery; the claims sit in
one module per experiment family: :mod:`~odebench.products.claims.mnist`,
:mod:`~odebench.products.claims.spirals` and :mod:`~odebench.products.claims.cnf`.

Entry point::

    python -m odebench.products.claims --tables-dir results/cpu/tables \\
        --reference paper/reference.yaml --out results/cpu/claims.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from odebench.core import artifacts
from odebench.products.claims.verdicts import (
    CLAIMS,
    COLUMNS,
    INCONCLUSIVE,
    LEVEL,
    NOT_REPRODUCED,
    REPRODUCED,
    VERDICTS,
    Claim,
    Difference,
    Finding,
    Inconclusive,
    ReferenceMissing,
    Summary,
    Tables,
    above_zero,
    all_of,
    claim,
    evaluate,
    evaluate_all,
    loglog_slope,
    not_worse,
    reference_value,
    summary,
    welch_difference,
    within_margin,
)
from odebench.products.reference import load_reference

# Importing a family registers its claims; registration order is the order of the rows of
# claims.csv and of the report: Table 1 and Figure 3, then Table 2, then the flows.
# isort: off
from odebench.products.claims import mnist, spirals, cnf
# isort: on

__all__ = [
    "CLAIMS", "COLUMNS", "INCONCLUSIVE", "LEVEL", "NOT_REPRODUCED", "REPRODUCED", "VERDICTS",
    "Claim", "Difference", "Finding", "Inconclusive", "ReferenceMissing", "Summary", "Tables",
    "above_zero", "all_of", "claim", "cnf", "evaluate", "evaluate_all", "load_reference",
    "loglog_slope", "main", "mnist", "not_worse", "reference_value", "spirals", "summary",
    "welch_difference", "within_margin",
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.products.claims", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--tables-dir", type=Path, required=True)
    parser.add_argument("--reference", type=Path, default=Path("paper/reference.yaml"))
    parser.add_argument("--out", type=Path, required=True, help="claims.csv to write")
    args = parser.parse_args(argv)
    try:
        if not args.tables_dir.is_dir():
            raise FileNotFoundError(f"no tables directory {args.tables_dir}")
        table = evaluate_all(args.tables_dir, load_reference(args.reference))
    except (FileNotFoundError, ReferenceMissing, yaml.YAMLError) as err:
        print(f"odebench.claims: error: {err}", file=sys.stderr)
        return 1
    artifacts.write_records(args.out, COLUMNS, table.to_dict("records"))
    counts = table["verdict"].value_counts()
    summary_line = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    print(f"wrote {args.out}: {len(table)} claims ({summary_line})", file=sys.stderr)
    return 0
