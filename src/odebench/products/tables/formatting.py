"""What every table shares: number formatting, the Markdown and LaTeX renderings,
writing a product's three files, and reading the paper's reference values."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.core import artifacts
from odebench.products.reference import load_reference  # noqa: F401  (re-exported)

MIB = 2**20


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def mean_std(mean: float, std: float, digits: int = 2) -> str:
    if isinstance(mean, float) and math.isnan(mean):
        return "–"
    if isinstance(std, float) and math.isnan(std):
        return fmt(mean, digits)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_document(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    notes: Sequence[str],
    failures: Sequence[str] = (),
) -> str:
    """A table's .md: title, the table, then its notes as a list (failed runs last)."""
    notes = list(notes)
    if failures:
        notes.append("Failed runs (excluded from the statistics): " + "; ".join(failures))
    text = f"# {title}\n\n" + markdown_table(header, rows) + "\n"
    return text + "\n".join(f"- {note}" for note in notes) + "\n"


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str) -> str:
    def esc(text: str) -> str:
        for a, b in (
            ("%", r"\%"),
            ("_", r"\_"),
            ("±", r"$\pm$"),
            ("~", r"$\sim$"),
            ("–", "--"),
            ("‖", r"$\|$"),
        ):
            text = text.replace(a, b)
        return text

    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{esc(caption)}}}",
        r"\begin{tabular}{" + "l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(esc(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(esc(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_product(table: pd.DataFrame, out: Path, markdown: str, latex: str) -> pd.DataFrame:
    """``<out>.csv`` (tidy), ``<out>.md`` and ``<out>.tex`` of one table."""
    artifacts.write_text(out.with_suffix(".csv"), table.to_csv(index=False))
    artifacts.write_text(out.with_suffix(".md"), markdown)
    artifacts.write_text(out.with_suffix(".tex"), latex)
    return table


def metrics_table(table: Callable[[Sequence[Path], dict[str, Any], Path], pd.DataFrame]):
    """A registry builder from ``table(metrics_files, reference, out)``, a table of the runs'
    ``metrics.json`` (the input named ``metrics``) that writes its csv, .md and .tex."""

    def build(inputs: Mapping[str, Sequence[Path]], reference: dict[str, Any],
              settings: Mapping[str, Any], out: Path) -> None:  # fmt: skip
        table(inputs["metrics"], reference, Path(out))

    return build
