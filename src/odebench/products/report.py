"""The report: claims, tables, figures and provenance of one budget in one Markdown file.

``results/<budget>/report.md`` is rendered from ``paper/report_template.md``
(``string.Template`` placeholders) and reads only files under
``results/<budget>/``: ``claims.csv``, ``tables/``, ``figures/`` and the runs'
``metrics.json``, so every number in it can be traced to a product. Products a
run did not make are left out (tables, figures) or show as inconclusive claims,
so the report builds on any subset of the DAG.

Entry point::

    python -m odebench.products.report --results results/cpu --out results/cpu/report.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import pandas as pd

from odebench.core import artifacts
from odebench.core.status import COMPLETED
from odebench.pipeline import paths
from odebench.products import registry
from odebench.products.claims import VERDICTS
from odebench.products.tables.formatting import markdown_table

TEMPLATE = Path(__file__).resolve().parents[3] / "paper" / "report_template.md"

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


# -- sections ---------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A Markdown table cell: pipes escaped, on one line."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return _cell(value)


def verdict_summary(claims: pd.DataFrame) -> str:
    counts = claims["verdict"].value_counts()
    parts = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    return f"{len(claims)} claims: {parts}."


def verdict_table(claims: pd.DataFrame) -> str:
    header = ["#", "Claim", "Verdict", "Measured", "Paper", "Evidence"]
    rows = [
        [
            str(i),
            f"{_cell(c['statement'])} ({_cell(c['source'])})",
            f"**{_cell(c['verdict'])}**",
            _cell(c["measured"]),
            _cell(c["paper_value"]),
            _cell(c["evidence"]),
        ]
        for i, (_, c) in enumerate(claims.iterrows(), start=1)
    ]
    return markdown_table(header, rows)


def rules(claims: pd.DataFrame) -> str:
    return "\n".join(
        f"{i}. `{c['claim_id']}`: {_cell(c['rule'])}"
        for i, (_, c) in enumerate(claims.iterrows(), start=1)
    )


def _demote(markdown: str, levels: int = 2) -> str:
    """A table's own .md inside the report: its headings one level below the section's."""
    return "\n".join(
        "#" * levels + line if line.startswith("#") else line for line in markdown.splitlines()
    )


def csv_as_markdown(path: Path) -> str:
    frame = pd.read_csv(path)
    rows = [[_number(v) for v in record] for record in frame.itertuples(index=False)]
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


# -- provenance -------------------------------------------------------------------------


def load_runs(results: Path) -> pd.DataFrame:
    """One row per run's metrics.json under ``runs/<family>/<arm>/seed<seed>/``."""
    records = []
    for path in sorted((results / "runs").glob(f"*/*/seed*/{paths.METRICS_JSON}")):
        metrics = artifacts.read_json(path)
        provenance = metrics.get("provenance") or {}
        config = metrics.get("config") or {}
        records.append(
            {
                "path": path,
                "family": path.parents[2].name,
                "seed": metrics.get("seed"),
                "status": metrics.get("status", ""),
                "wall_seconds": metrics.get("wall_seconds"),
                "git_commit": provenance.get("git_commit"),
                "device": provenance.get("device"),
                "threads": provenance.get("torch_threads", provenance.get("threads")),
                "epochs": config.get("epochs"),
                "iterations": config.get("iterations"),
                "provenance": provenance,
            }
        )
    return pd.DataFrame(records)


def _values(series: pd.Series) -> str:
    """The distinct values of a column, sorted (whole floats as integers: epochs 3, not 3.0)."""
    values = sorted(
        {
            str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
            for v in series.dropna()
        }
    )
    return ", ".join(values) if values else "–"


def provenance_section(results: Path) -> str:
    runs = load_runs(results)
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
            [family, str(len(group)), str(completed), "; ".join(length) or "–",
             f"{wall:.0f}", f"{wall / 60:.1f}"]
        )  # fmt: skip
    total = pd.to_numeric(runs["wall_seconds"], errors="coerce").sum()
    families.append(["**all**", str(len(runs)), str(int((runs["status"] == COMPLETED).sum())),
                     "", f"{total:.0f}", f"{total / 60:.1f}"])  # fmt: skip
    table = markdown_table(
        ["family", "runs", "completed", "length", "wall s (sum)", "wall min (sum)"], families
    )
    example = runs.iloc[0]
    packages = example["provenance"].get("packages") or {}
    lines = [
        f"- Budget: `{budget}`.",
        f"- Seeds: {_values(runs['seed'])}.",
        f"- Git commits of the runs: {_values(runs['git_commit'])}.",
        f"- Devices: {_values(runs['device'])}; torch threads per run: {_values(runs['threads'])}.",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in packages.items()) + ".",
    ]
    relative = example["path"].relative_to(results)
    return (
        "\n".join(lines)
        + "\n\nWall time per experiment family, summed over its runs' `wall_seconds` (jobs ran "
        "in parallel, so the DAG's elapsed time is shorter):\n\n"
        + table
        + f"\nProvenance of one run (`{relative}`):\n\n```json\n"
        + json.dumps(example["provenance"], indent=2, sort_keys=True)
        + "\n```"
    )


def _rst(value: Any) -> str:
    """Text safe inside an RST table cell: inline markup characters escaped, one line."""
    text = _cell(value).replace("\\|", "|")
    for char in ("\\", "*", "`", "_", "|"):
        text = text.replace(char, "\\" + char)
    return text


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
        lines += [f"   * - {i}", f"     - {_rst(c['statement'])}", f"     - {_rst(c['verdict'])}",
                  f"     - {_rst(c['measured'])}"]  # fmt: skip
    return "\n".join(lines) + "\n"


# -- rendering --------------------------------------------------------------------------


def render(results: Path, template: Path = TEMPLATE) -> str:
    """The report of ``results`` (a ``results/<budget>`` directory) as Markdown."""
    results = Path(results)
    claims_csv = results / "claims.csv"
    if not claims_csv.is_file():
        raise FileNotFoundError(
            f"{claims_csv} is missing; run python -m odebench.products.claims first"
        )
    claims = pd.read_csv(claims_csv, keep_default_na=False)
    text = Template(Path(template).read_text()).substitute(
        budget=results.name,
        verdict_summary=verdict_summary(claims),
        verdict_table=verdict_table(claims).rstrip(),
        rules=rules(claims),
        tables=tables_section(results / "tables"),
        figures=figures_section(results / "figures"),
        provenance=provenance_section(results),
    )
    return text.rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.products.report", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--results", type=Path, required=True, help="results/<budget>")
    parser.add_argument("--out", type=Path, required=True, help="report.md to write")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--landing", type=Path, help="also write the HTML report's landing page")
    args = parser.parse_args(argv)
    try:
        text = render(args.results, args.template)
    except (FileNotFoundError, KeyError, ValueError) as err:
        print(f"odebench.report: error: {err}", file=sys.stderr)
        return 1
    artifacts.write_text(args.out, text)
    if args.landing:
        claims = pd.read_csv(Path(args.results) / "claims.csv", keep_default_na=False)
        artifacts.write_text(args.landing, landing_page(claims, Path(args.results).name))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
