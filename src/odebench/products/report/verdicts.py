"""The claims' verdicts: their counts, the verdict tables, the rules, the open questions,
and the HTML report's landing page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from odebench.products.claims import INCONCLUSIVE, UNTESTED, VERDICTS
from odebench.products.claims.verdicts import is_paper_claim
from odebench.products.report.text import cell, given, rst, sentence
from odebench.products.tables.formatting import markdown_table


def _counts(claims: pd.DataFrame) -> str:
    counts = claims["verdict"].value_counts()
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)


def verdict_summary(claims: pd.DataFrame) -> str:
    """``The paper's 11 claims: 3 reproduced, ...; 4 further claims: ...``."""
    paper = claims[is_paper_claim(claims)]
    others = claims[~is_paper_claim(claims)]
    text = f"The paper's {len(paper)} claims: {_counts(paper)}."
    if len(others):
        text += f" {len(others)} further claims (not the paper's): {_counts(others)}."
    return text


def _would_test(claim: pd.Series) -> Any:
    """What an untested claim lacks (``would_test``; claims.csv files older than that
    column: ``testable_when``, every condition)."""
    return claim.get("would_test", claim["testable_when"])


def open_questions(claims: pd.DataFrame) -> str:
    """What would decide the claims this run left open: the seeds per arm an inconclusive
    comparison needs, and what would test an untested claim."""
    items = []
    for _, c in claims.iterrows():
        if c["verdict"] == INCONCLUSIVE:
            need = (f"{cell(c['seeds_needed'])} seeds per arm would decide every comparison if "
                    "the observed means and spreads held; the evidence says which way each "
                    "leans" if given(c["seeds_needed"])
                    else "more seeds than can be projected, or a wider margin")  # fmt: skip
            items.append(f"- `{c['claim_id']}` (inconclusive): {need}.")
        elif c["verdict"] == UNTESTED and given(_would_test(c)):
            items.append(f"- `{c['claim_id']}` (untested): {cell(_would_test(c))}.")
    if not items:
        return ""
    return "What would decide the open claims:\n\n" + "\n".join(items)


def verdict_table(claims: pd.DataFrame, numbers: Sequence[int] | None = None) -> str:
    """The verdict table of ``claims``, numbered as in the rules below (``numbers``)."""
    header = ["#", "Claim", "Verdict", "Measured", "Paper", "Evidence"]
    numbers = list(numbers) if numbers is not None else range(1, len(claims) + 1)
    rows = []
    for i, (_, c) in zip(numbers, claims.iterrows(), strict=True):
        evidence = cell(c["evidence"])
        measured = cell(c["measured"])
        if measured and evidence.startswith(measured):  # said in the Measured column
            evidence = evidence[len(measured) :].lstrip(" .;")
        evidence = sentence(evidence)
        if c["verdict"] == UNTESTED and given(_would_test(c)):
            evidence += f" What would test it: {sentence(cell(_would_test(c)))}"
        if given(c["seeds_needed"]):
            evidence += f" Seeds per arm the observed spread needs: {cell(c['seeds_needed'])}."
        rows.append([
            str(i), f"{cell(c['statement'])} ({cell(c['source'])})",
            f"**{cell(c['verdict'])}**", cell(c["measured"]), cell(c["paper_value"]), evidence,
        ])  # fmt: skip
    return markdown_table(header, rows)


def verdict_tables(claims: pd.DataFrame) -> tuple[str, str]:
    """The paper's claims, then the others (ablation, FFJORD, our findings), numbered on."""
    numbers = pd.Series(range(1, len(claims) + 1), index=claims.index)
    paper = is_paper_claim(claims)
    others = claims[~paper]
    other_table = verdict_table(others, numbers[~paper]) if len(others) else "No further claims.\n"
    return verdict_table(claims[paper], numbers[paper]), other_table


def rules(claims: pd.DataFrame) -> str:
    """Each claim's rule, when the run can test it, and how far its verdict is from flipping."""
    lines = []
    for i, (_, c) in enumerate(claims.iterrows(), start=1):
        line = f"{i}. `{c['claim_id']}` ({cell(c['origin'])}): {cell(c['rule'])}"
        if given(c["testable_when"]):
            line += f" *Testable when:* {cell(c['testable_when'])}"
        if given(c["sensitivity"]):
            line += f" *Sensitivity:* {cell(c['sensitivity'])}"
        lines.append(line)
    return "\n".join(lines)


def landing_page(claims: pd.DataFrame, budget: str) -> str:
    """The landing page of Snakemake's HTML report (reStructuredText): the verdict table.

    Snakemake renders the workflow's ``report:`` file as the report's first page; the
    Snakefile points it at this generated file once it exists.
    """
    lines = [
        f'odebench reproduces "Neural Ordinary Differential Equations" (Chen et al., '
        f"NeurIPS 2018). Budget ``{budget}``: {verdict_summary(claims)} Every product "
        "is listed under Results; ``report.md`` holds the full report.",
        "",
        ".. list-table:: Verdicts (claims.csv)",
        "   :header-rows: 1",
        "",
        "   * - No.",
        "     - Claim",
        "     - Verdict",
        "     - Measured",
    ]
    for i, (_, c) in enumerate(claims.iterrows(), start=1):
        lines += [f"   * - {i}", f"     - {rst(c['statement'])}", f"     - {rst(c['verdict'])}",
                  f"     - {rst(c['measured'])}"]  # fmt: skip
    return "\n".join(lines) + "\n"
