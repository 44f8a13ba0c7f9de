"""The sections built from the products: the paper's tables, then the figures, captioned."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from odebench.products import registry
from odebench.products.report.text import number
from odebench.products.tables.formatting import markdown_table

#: The paper's tables in report order: file stem -> heading (the registry's tables with
#: documents). A table's own ``.md`` (with its notes) is included where it exists, else
#: its csv is rendered as Markdown.
PAPER_TABLES: dict[str, str] = {
    name: table.title for name, table in registry.TABLES.items() if table.documents
}


@dataclass(frozen=True)
class Caption:
    title: str
    look: str  # what to look at
    differs: str  # how the setup differs from the paper's


#: Captions of the figures the DAG draws, in report order (from the registry); other
#: figures present in ``figures/`` follow with a generic caption.
CAPTIONS: dict[str, Caption] = {
    name: Caption(figure.title, figure.look, figure.differs)
    for name, figure in registry.FIGURES.items()
}


def _demote(markdown: str, levels: int = 2) -> str:
    """A table's own .md inside the report: its headings one level below the section's."""
    return "\n".join(
        "#" * levels + line if line.startswith("#") else line for line in markdown.splitlines()
    )


def csv_as_markdown(path: Path) -> str:
    frame = pd.read_csv(path)
    rows = [[number(v) for v in record] for record in frame.itertuples(index=False)]
    return markdown_table(list(frame.columns), rows)


def tables_section(tables_dir: Path) -> str:
    """Each paper table present: its own .md, else its csv as Markdown; then the other csvs."""
    blocks = []
    for stem, heading in PAPER_TABLES.items():
        md, csv = tables_dir / f"{stem}.md", tables_dir / f"{stem}.csv"
        if md.is_file():
            blocks.append(_demote(md.read_text()).strip() + f"\n\nData: [`tables/{csv.name}`]"
                          f"(tables/{csv.name}).")  # fmt: skip
        elif csv.is_file():
            blocks.append(f"### {heading}\n\n{csv_as_markdown(csv)}\nData: [`tables/{csv.name}`]"
                          f"(tables/{csv.name}).")  # fmt: skip
        else:
            blocks.append(f"### {heading}\n\nNot produced in this run (`tables/{stem}.csv`).")
    others = sorted(
        p.name for p in tables_dir.glob("*.csv") if p.stem not in PAPER_TABLES
    )  # fmt: skip
    if others:
        links = "\n".join(f"- [`tables/{name}`](tables/{name})" for name in others)
        blocks.append(f"### Further tables (the figures' data)\n\n{links}")
    return "\n\n".join(blocks)


def figures_section(figures_dir: Path) -> str:
    present = {p.stem for p in figures_dir.glob("*.png")} if figures_dir.is_dir() else set()
    order = [name for name in CAPTIONS if name in present] + sorted(present - set(CAPTIONS))
    if not order:
        return "No figure was produced in this run."
    blocks = []
    for name in order:
        caption = CAPTIONS.get(name) or Caption(name, "see the figure's axes.", "see README.md.")
        blocks.append(
            f"### {caption.title}\n\n![{caption.title}](figures/{name}.png)\n\n"
            f"*What to look at:* {caption.look} *Setup:* {caption.differs}"
        )
    return "\n\n".join(blocks)
