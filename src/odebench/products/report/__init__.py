"""The report: claims, tables, figures and provenance of one budget in one Markdown file.

``results/<budget>/report.md`` is rendered from ``paper/report_template.md``
(``string.Template`` placeholders) and reads only files under
``results/<budget>/``: ``claims.csv``, ``tables/``, ``figures/`` and the runs'
``metrics.json``, so every number in it can be traced to a product. Products a
run did not make are left out (tables, figures) or show as inconclusive claims,
so the report builds on any subset of the DAG.

One module per part: :mod:`~odebench.products.report.verdicts` (the verdict tables,
rules, open questions and the HTML report's landing page),
:mod:`~odebench.products.report.summary` (the opening paragraph),
:mod:`~odebench.products.report.sections` (the paper's tables and the figures),
:mod:`~odebench.products.report.runs` (the runs under ``runs/`` and their per-seed
values), :mod:`~odebench.products.report.provenance` (commits, devices, wall time,
Snakemake's elapsed time) and :mod:`~odebench.products.report.render` (the template
filled in); :mod:`~odebench.products.report.text` formats cells.

Entry point::

    python -m odebench.products.report --results results/cpu --out results/cpu/report.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from odebench.core import artifacts
from odebench.core.cli import command_main
from odebench.products.report.provenance import commits_statement, run_commits, short_commit
from odebench.products.report.render import TEMPLATE, render
from odebench.products.report.runs import PER_SEED, load_run_provenance
from odebench.products.report.sections import CAPTIONS, PAPER_TABLES, Caption
from odebench.products.report.verdicts import landing_page, verdict_summary

__all__ = [
    "CAPTIONS", "PAPER_TABLES", "PER_SEED", "TEMPLATE", "Caption", "commits_statement",
    "landing_page", "load_run_provenance", "main", "render", "run_commits", "short_commit",
    "verdict_summary",
]  # fmt: skip


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, required=True, help="results/<budget>")
    parser.add_argument("--out", type=Path, required=True, help="report.md to write")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--landing", type=Path, help="also write the HTML report's landing page")


def _write(args: argparse.Namespace) -> None:
    text = render(args.results, args.template)
    artifacts.write_text(args.out, text)
    if args.landing:
        claims = pd.read_csv(Path(args.results) / "claims.csv", keep_default_na=False)
        artifacts.write_text(args.landing, landing_page(claims, Path(args.results).name))
    print(f"wrote {args.out}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    return command_main(
        "python -m odebench.products.report", __doc__.split("\n")[0], _arguments, _write, argv,
        errors=(FileNotFoundError, KeyError, ValueError),
    )  # fmt: skip
