"""A run against the committed reference run: the numbers side by side, the verdicts.

``snakemake`` writes a user's run to ``results/<budget>/``; the committed reference run
of the budget, where one exists, lies in ``reference/<budget>/`` (odebench.core.paths).
This compares the two:

- **verdicts**: per claim, the reference's verdict and the run's, and whether they agree;
- **numbers**: per table (:data:`COMPARED`), every arm's headline metrics, mean ± std
  (n) of each run, the difference and its 95% Welch interval, judged against the seed
  spread: ``within seed spread`` (the interval holds 0), ``differs`` (it does not),
  ``no spread`` (an arm has one seed or no std: the difference cannot be judged; equal
  values of a deterministic quantity are ``equal``). Rows one side lacks are listed.

Cost metrics (seconds) depend on the machine: a difference there says which machine was
faster, not that a result moved; they are marked ``cost``.

Entry point (also the DAG's last rule when ``reference/<budget>/claims.csv`` exists)::

    python -m odebench.products.compare --run results/cpu --reference reference/cpu \\
        --out results/cpu/comparison.md [--csv results/cpu/comparison.csv]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from odebench.core import artifacts, paths
from odebench.core.cli import command_main
from odebench.products import invocation, registry
from odebench.products.stats import LEVEL, Summary, welch_difference
from odebench.products.tables.formatting import markdown_table

WITHIN = "within seed spread"
DIFFERS = "differs"
NO_SPREAD = "no spread"
EQUAL = "equal"
JUDGEMENTS = (WITHIN, DIFFERS, NO_SPREAD, EQUAL)

#: Columns of the tidy comparison (comparison.csv), one row per table, arm and metric.
COLUMNS = ("table", "arm", "metric", "kind", "reference_mean", "reference_std", "reference_n",
           "run_mean", "run_std", "run_n", "difference", "low", "high", "judgement")  # fmt: skip


@dataclass(frozen=True)
class Metric:
    """A column pair of a tidy table: its mean, its std over seeds, and what it measures."""

    mean: str
    std: str
    kind: str = "result"  # result | cost (machine-dependent)

    @property
    def name(self) -> str:
        return self.mean.removesuffix("_mean")


@dataclass(frozen=True)
class Compared:
    """A table's arms (its key columns) and the metrics compared per arm."""

    keys: tuple[str, ...]
    metrics: tuple[Metric, ...]
    n: str | None = "n_seeds"  # None: one measurement per arm, no seeds


def _m(mean: str, std: str | None = None, kind: str = "result") -> Metric:
    return Metric(mean, std or mean.removesuffix("_mean") + "_std", kind)


#: Table stem -> what is compared; a table not listed is not compared (figure data, and
#: tables whose rows are fits or per-step records rather than arms over seeds).
COMPARED: dict[str, Compared] = {
    registry.TABLE1.name: Compared(
        ("model", "tol"), (_m("test_error_pct_mean"), _m("epoch_seconds", kind="cost"))
    ),
    registry.TABLE2.name: Compared(("model", "n_obs"), (_m("rmse_mean"),)),
    registry.CNF_DENSITY_MATCHING.name: Compared(("target", "model", "capacity"), (_m("kl_mean"),)),
    registry.CNF_MAX_LIKELIHOOD.name: Compared(("dataset", "model"), (_m("test_nll_mean"),)),
    registry.TRACE_ESTIMATOR.name: Compared(
        ("dim", "estimator"), (_m("nfe"), _m("seconds_per_step", kind="cost"))
    ),
    registry.WORK_PRECISION.name: Compared(
        ("train_tol", "solver", "backend", "kind", "tol_or_steps"),
        (_m("nfe_forward"), _m("error"), _m("test_error_pct")),
    ),
    registry.REVERSIBILITY.name: Compared(
        ("train_tol", "tol"), (_m("reconstruction_error"), _m("grad_rel_error"))
    ),
    registry.NFE_OVER_TRAINING.name: Compared(
        ("train_tol", "epoch_position"), (_m("nfe_forward"),)
    ),
    registry.MEMORY_SCALING.name: Compared(
        ("method", "depth"), (Metric("activation_bytes", ""),), n=None
    ),  # fmt: skip
}


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def judge(reference: Summary, run: Summary) -> tuple[float, float, float, str]:
    """(difference run - reference, low, high, judgement) of one metric of one arm."""
    diff = welch_difference(run, reference)
    if diff.has_interval:
        inside = diff.low <= 0.0 <= diff.high
        return diff.estimate, diff.low, diff.high, WITHIN if inside else DIFFERS
    same = math.isclose(run.mean, reference.mean, rel_tol=1e-9, abs_tol=0.0)
    return diff.estimate, math.nan, math.nan, EQUAL if same else NO_SPREAD


def _arm(row: pd.Series, keys: Sequence[str]) -> str:
    parts = []
    for key in keys:
        value = row[key]
        if isinstance(value, float) and math.isnan(value):
            continue
        parts.append(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}")
    return ", ".join(parts)


def _keyed(table: pd.DataFrame, keys: Sequence[str]) -> dict[str, pd.Series]:
    return {_arm(row, keys): row for _, row in table.iterrows()}


def _summary(row: pd.Series, metric: Metric, n: str | None) -> Summary:
    std = _number(row[metric.std]) if metric.std in row.index else math.nan
    count = int(_number(row[n])) if n and n in row.index and not math.isnan(_number(row[n])) else 1
    return Summary(_number(row[metric.mean]), std, count)


def compare_table(
    name: str, reference: pd.DataFrame, run: pd.DataFrame
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The tidy comparison of one table, and the arms only the reference / the run has."""
    spec = COMPARED[name]
    ours, theirs = _keyed(run, spec.keys), _keyed(reference, spec.keys)
    rows = []
    for arm, ref_row in theirs.items():
        if arm not in ours:
            continue
        for metric in spec.metrics:
            if metric.mean not in ref_row.index or metric.mean not in ours[arm].index:
                continue
            a, b = _summary(ref_row, metric, spec.n), _summary(ours[arm], metric, spec.n)
            if math.isnan(a.mean) or math.isnan(b.mean):
                continue
            difference, low, high, judgement = judge(a, b)
            rows.append((name, arm, metric.name, metric.kind, a.mean, a.std, a.n, b.mean, b.std,
                         b.n, difference, low, high, judgement))  # fmt: skip
    only_reference = [arm for arm in theirs if arm not in ours]
    only_run = [arm for arm in ours if arm not in theirs]
    return pd.DataFrame(rows, columns=list(COLUMNS)), only_reference, only_run


def compare_verdicts(reference: pd.DataFrame, run: pd.DataFrame) -> pd.DataFrame:
    """Per claim: the reference's verdict, the run's, and whether they agree."""
    merged = reference[["claim_id", "verdict"]].merge(
        run[["claim_id", "verdict"]], on="claim_id", how="outer", suffixes=("_reference", "_run")
    )
    merged = merged.fillna({"verdict_reference": "(absent)", "verdict_run": "(absent)"})
    merged["agrees"] = merged["verdict_reference"] == merged["verdict_run"]
    order = {claim: i for i, claim in enumerate(reference["claim_id"])}
    return merged.sort_values("claim_id", key=lambda s: s.map(lambda c: order.get(c, len(order))))


def _read_claims(results: Path) -> pd.DataFrame:
    path = results / "claims.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: is {results} a results/<budget> directory?")
    return pd.read_csv(path, keep_default_na=False)


def _g(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3g}"


def _cell(mean: float, std: float, n: int) -> str:
    spread = "" if math.isnan(std) else f" ± {_g(std)}"
    return f"{_g(mean)}{spread} (n = {n})"


def _numbers_section(
    name: str, table: pd.DataFrame, only_ref: list[str], only_run: list[str]
) -> str:
    lines = [f"### {name}", ""]
    if table.empty and not only_ref and not only_run:
        return "\n".join(lines + ["No arm to compare.", ""])
    rows = [
        [r.arm, r.metric + (" (cost)" if r.kind == "cost" else ""),
         _cell(r.reference_mean, r.reference_std, r.reference_n),
         _cell(r.run_mean, r.run_std, r.run_n),
         _g(r.difference) + ("" if math.isnan(r.low) else f" [{_g(r.low)}, {_g(r.high)}]"),
         f"**{r.judgement}**" if r.judgement == DIFFERS else r.judgement]
        for r in table.itertuples()
    ]  # fmt: skip
    if rows:
        header = ["arm", "metric", "reference", "this run", f"run − reference [{LEVEL:.0%} CI]",
                  "judgement"]  # fmt: skip
        lines.append(markdown_table(header, rows))
    if only_ref:
        lines.append("Only in the reference: " + "; ".join(only_ref) + ".\n")
    if only_run:
        lines.append("Only in this run: " + "; ".join(only_run) + ".\n")
    return "\n".join(lines)


def _elapsed(results: Path) -> str:
    found = invocation.of_results(results)
    if found is None:
        return "not recorded"
    return f"{invocation.clock(found.elapsed)} for {len(found.jobs)} jobs"


def _time_line(run: Path, reference: Path) -> str:
    """Each side's Snakemake elapsed time, where its log was kept (machine-dependent)."""
    ours, theirs = _elapsed(run), _elapsed(reference)
    if ours == theirs == "not recorded":
        return ""
    return (f"- **Time** (the machine's as much as the code's): this run {ours}, the reference "
            f"{theirs} (Snakemake's elapsed time, `logs/{paths.SNAKEMAKE_LOG}`).")  # fmt: skip


def render(run: Path, reference: Path) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """The comparison as Markdown, the tidy numbers and the verdicts."""
    run, reference = Path(run), Path(reference)
    verdicts = compare_verdicts(_read_claims(reference), _read_claims(run))
    tables, sections = [], []
    for name in COMPARED:
        ref_csv, run_csv = (d / "tables" / f"{name}.csv" for d in (reference, run))
        if not ref_csv.is_file() or not run_csv.is_file():
            missing = [str(p) for p in (ref_csv, run_csv) if not p.is_file()]
            sections.append(f"### {name}\n\nNot compared: {', '.join(missing)} missing.\n")
            continue
        table, only_ref, only_run = compare_table(name, pd.read_csv(ref_csv), pd.read_csv(run_csv))
        if len(table):
            tables.append(table)
        sections.append(_numbers_section(name, table, only_ref, only_run))
    numbers = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)

    agree = int(verdicts["agrees"].sum())
    results = numbers[numbers["kind"] == "result"]
    counts = results["judgement"].value_counts()
    differing = results[results["judgement"] == DIFFERS]
    summary = [
        "# This run against the reference\n",
        f"This run: `{run}`. Reference: `{reference}`.\n",
        f"- **Verdicts**: {agree} of {len(verdicts)} claims have the same verdict.",
        f"- **Numbers** ({len(results)} result metrics over arms, cost metrics aside): "
        + ", ".join(f"{counts.get(j, 0)} {j}" for j in JUDGEMENTS)
        + ".",
        f"  A difference is judged against the seed spread: `{DIFFERS}` when the {LEVEL:.0%} "
        "Welch interval of run − reference excludes 0. Even when nothing changed, about "
        f"{1 - LEVEL:.0%} of the metrics with a spread would show `{DIFFERS}` by chance.",
    ]
    if time := _time_line(run, reference):
        summary.append(time)
    if len(differing):
        summary.append("- Results that differ: " + "; ".join(
            f"{r.table} {r.arm} {r.metric} ({_g(r.reference_mean)} → {_g(r.run_mean)})"
            for r in differing.itertuples()) + ".")  # fmt: skip
    verdict_rows = [
        [c.claim_id, c.verdict_reference, c.verdict_run, "yes" if c.agrees else "**no**"]
        for c in verdicts.itertuples()
    ]
    text = (
        "\n".join(summary)
        + "\n\n## Verdicts\n\n"
        + markdown_table(["claim", "reference", "this run", "agrees"], verdict_rows)
        + "\n## Numbers\n\n"
        + "\n".join(sections)
    )
    return text.rstrip() + "\n", numbers, verdicts


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="results/<budget>")
    parser.add_argument("--reference", type=Path, required=True, help="reference/<budget>")
    parser.add_argument("--out", type=Path, required=True, help="comparison.md to write")
    parser.add_argument("--csv", type=Path, help="also write the tidy numbers here")


def _write(args: argparse.Namespace) -> None:
    text, numbers, _ = render(args.run, args.reference)
    artifacts.write_text(args.out, text)
    if args.csv:
        artifacts.write_text(args.csv, numbers.to_csv(index=False))
    print(f"wrote {args.out}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    return command_main(
        "python -m odebench.products.compare", __doc__.split("\n")[0], _arguments, _write, argv,
        errors=(FileNotFoundError, KeyError, ValueError),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
