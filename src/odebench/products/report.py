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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd

from odebench.core import artifacts, paths
from odebench.core.status import COMPLETED
from odebench.products import invocation, registry
from odebench.products.claims import INCONCLUSIVE, UNTESTED, VERDICTS
from odebench.products.claims.verdicts import is_paper_claim
from odebench.products.reference import REFERENCE, load_reference
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


def _given(value: Any) -> bool:
    """Whether a claims.csv cell holds something (it is read without NaN: empty is "")."""
    return _cell(value) not in ("", "–")


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


def _sentence(text: str) -> str:
    """``text`` ending in a full stop, so that what follows starts a new sentence."""
    text = text.rstrip()
    return text if not text or text.endswith((".", "!", "?")) else text + "."


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
            need = (f"{_cell(c['seeds_needed'])} seeds per arm would decide every comparison if "
                    "the observed means and spreads held; the evidence says which way each "
                    "leans" if _given(c["seeds_needed"])
                    else "more seeds than can be projected, or a wider margin")  # fmt: skip
            items.append(f"- `{c['claim_id']}` (inconclusive): {need}.")
        elif c["verdict"] == UNTESTED and _given(_would_test(c)):
            items.append(f"- `{c['claim_id']}` (untested): {_cell(_would_test(c))}.")
    if not items:
        return ""
    return "What would decide the open claims:\n\n" + "\n".join(items)


def verdict_table(claims: pd.DataFrame, numbers: Sequence[int] | None = None) -> str:
    """The verdict table of ``claims``, numbered as in the rules below (``numbers``)."""
    header = ["#", "Claim", "Verdict", "Measured", "Paper", "Evidence"]
    numbers = list(numbers) if numbers is not None else range(1, len(claims) + 1)
    rows = []
    for i, (_, c) in zip(numbers, claims.iterrows(), strict=True):
        evidence = _cell(c["evidence"])
        measured = _cell(c["measured"])
        if measured and evidence.startswith(measured):  # said in the Measured column
            evidence = evidence[len(measured) :].lstrip(" .;")
        evidence = _sentence(evidence)
        if c["verdict"] == UNTESTED and _given(_would_test(c)):
            evidence += f" What would test it: {_sentence(_cell(_would_test(c)))}"
        if _given(c["seeds_needed"]):
            evidence += f" Seeds per arm the observed spread needs: {_cell(c['seeds_needed'])}."
        rows.append([
            str(i), f"{_cell(c['statement'])} ({_cell(c['source'])})",
            f"**{_cell(c['verdict'])}**", _cell(c["measured"]), _cell(c["paper_value"]), evidence,
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
        line = f"{i}. `{c['claim_id']}` ({_cell(c['origin'])}): {_cell(c['rule'])}"
        if _given(c["testable_when"]):
            line += f" *Testable when:* {_cell(c['testable_when'])}"
        if _given(c["sensitivity"]):
            line += f" *Sensitivity:* {_cell(c['sensitivity'])}"
        lines.append(line)
    return "\n".join(lines)


# -- the summary ------------------------------------------------------------------------


def _read(tables_dir: Path, table: registry.Table) -> pd.DataFrame | None:
    path = tables_dir / table.csv
    return pd.read_csv(path) if path.is_file() else None


def _table1_headline(table: pd.DataFrame, paper_tol: float) -> str:
    """Each model's test error at the paper's tolerance against the paper's number."""
    rows = table[table["tol"].isna() | np.isclose(table["tol"], paper_tol)]
    parts = [
        f"{r.label} {r.test_error_pct_mean:.2f}% against {r.paper_test_error_pct:.2f}% "
        f"({r.test_error_pct_mean - r.paper_test_error_pct:+.2f} pp, {r.n_seeds} seeds)"
        for r in rows.itertuples()
        if pd.notna(r.paper_test_error_pct) and pd.notna(r.test_error_pct_mean)
    ]
    first = table.iloc[0]
    return (f"Table 1 (MNIST test error, {first['epochs']} of the paper's 160 epochs): "
            + "; ".join(parts) + ".")  # fmt: skip


def _table2_headline(table: pd.DataFrame) -> str:
    """The latent ODE's extrapolation RMSE against the paper's (as a ratio) and the RNN's."""
    rows = table[(table["model"] == "latent_ode") & table["paper_rmse"].notna()]
    rnn = table[table["model"] == "rnn"].set_index("n_obs")["rmse_mean"]
    parts = []
    for r in rows.itertuples():
        beside = f"; the RNN here {rnn[r.n_obs]:.3f}" if r.n_obs in rnn.index else ""
        parts.append(
            f"{r.n_obs} observations: {r.rmse_mean:.3f} against the paper's {r.paper_rmse:.4f} "
            f"(×{r.rmse_mean / r.paper_rmse:.1f}, {r.n_seeds} seeds{beside})"
        )
    return "Table 2 (latent ODE extrapolation RMSE): " + "; ".join(parts) + "."


def summary(results: Path, claims: pd.DataFrame, reference: Mapping[str, Any]) -> str:
    """The report's opening paragraph: verdict counts, headline numbers, what the run cost."""
    tables = results / "tables"
    lines = [f"Budget `{results.name}`. {verdict_summary(claims)}"]
    if questions := open_questions(claims):
        lines.append(questions)
    table1 = _read(tables, registry.TABLE1)
    if table1 is not None and len(table1):
        paper_tol = float(reference["tolerances"]["classification"])
        lines.append(_table1_headline(table1, paper_tol))
    table2 = _read(tables, registry.TABLE2)
    if table2 is not None and len(table2):
        lines.append(_table2_headline(table2))
    runs = load_runs(results)
    if not runs.empty:
        wall = pd.to_numeric(runs["wall_seconds"], errors="coerce")
        per_family = wall.groupby(runs["family"]).sum() / 60
        elapsed = _elapsed_phrase(results, len(runs))
        lines.append(
            f"Cost: {len(runs)} runs, {wall.sum() / 60:.0f} minutes of run time summed over "
            "them ("
            + ", ".join(f"{f} {m:.0f}" for f, m in per_family.items())
            + "); "
            + (elapsed or "Snakemake ran some side by side, so the DAG's elapsed time is shorter.")
        )
    return "\n\n".join(lines)


def _elapsed_phrase(results: Path, runs: int) -> str | None:
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


# -- per-seed values --------------------------------------------------------------------

#: Run family -> the headline metric whose per-seed values the report lists, and its name.
PER_SEED = {
    "mnist": ("test_error_pct", "test error %"),
    "spirals": ("rmse", "extrapolation RMSE"),
    "cnf_density": ("kl", "KL(q‖p), nats"),
    "cnf_likelihood": ("test_nll", "test NLL, nats"),
}
#: Arms with this many seeds or fewer list every seed's value.
PER_SEED_MAX_N = 5


def per_seed_section(results: Path) -> str:
    """Every seed's headline value, for arms with few seeds: means over 2 seeds hide a lot."""
    runs = load_runs(results)
    if runs.empty:
        return "No run's `metrics.json` under `runs/`."
    rows = []
    for family, (_, label) in PER_SEED.items():
        for arm, group in runs[runs["family"] == family].groupby("arm", sort=False):
            if len(group) > PER_SEED_MAX_N:
                continue
            values = "; ".join(
                f"seed {r.seed}: {_number(r.value)}" + ("" if r.status == COMPLETED
                                                        else f" ({r.status})")
                for r in group.sort_values("seed").itertuples()
            )  # fmt: skip
            rows.append([family, arm, label, str(len(group)), values])
    if not rows:
        return f"Every arm has more than {PER_SEED_MAX_N} seeds."
    return markdown_table(["family", "arm", "metric", "n", "per seed"], rows)


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
                "arm": path.parents[1].name,
                "seed": metrics.get("seed"),
                "value": metrics.get(PER_SEED.get(path.parents[2].name, ("",))[0]),
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


def short_commit(commit: Any) -> Any:
    """``65cc8cab88a8-dirty``: a commit's first 12 characters, and whether the tree was dirty."""
    if not isinstance(commit, str):
        return commit
    sha, dirty, _ = commit.partition("-dirty")
    return sha[:12] + dirty


def run_commits(runs: pd.DataFrame) -> list[str]:
    """The distinct commits (``-dirty`` kept) that made the runs of :func:`load_runs`."""
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
