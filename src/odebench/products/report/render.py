"""The report as Markdown: ``paper/report_template.md`` with every section filled in."""

from __future__ import annotations

from pathlib import Path
from string import Template

import pandas as pd

from odebench.products.reference import REFERENCE, load_reference
from odebench.products.report.provenance import provenance_section
from odebench.products.report.runs import per_seed_section
from odebench.products.report.sections import figures_section, tables_section
from odebench.products.report.summary import summary
from odebench.products.report.verdicts import rules, verdict_tables

TEMPLATE = Path(__file__).resolve().parents[4] / "paper" / "report_template.md"


def render(results: Path, template: Path = TEMPLATE, reference: Path = REFERENCE) -> str:
    """The report of ``results`` (a ``results/<budget>`` directory) as Markdown."""
    results = Path(results)
    claims_csv = results / "claims.csv"
    if not claims_csv.is_file():
        raise FileNotFoundError(
            f"{claims_csv} is missing; run python -m odebench.products.claims first"
        )
    claims = pd.read_csv(claims_csv, keep_default_na=False)
    paper_table, other_table = verdict_tables(claims)
    text = Template(Path(template).read_text()).substitute(
        budget=results.name,
        summary=summary(results, claims, load_reference(reference)),
        paper_verdicts=paper_table.rstrip(),
        other_verdicts=other_table.rstrip(),
        rules=rules(claims),
        per_seed=per_seed_section(results).rstrip(),
        tables=tables_section(results / "tables"),
        figures=figures_section(results / "figures"),
        provenance=provenance_section(results),
    )
    return text.rstrip() + "\n"
