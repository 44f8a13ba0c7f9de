"""The report as a PDF, from ``paper/manuscript.tex`` and the budget's generated products.

Numbers never appear in the manuscript itself: this module writes them from
``claims.csv`` and the runs' provenance into ``numbers.tex`` (macros) and
``verdicts.tex`` (the verdict table) in ``results/<budget>/.latex/``, copies the
manuscript beside them, and runs ``latexmk`` there; the tables (``tables/*.tex``)
and figures are read from ``results/<budget>/``. The PDF is moved into place only
when the build succeeded.

    python -m odebench.products.manuscript --results results/cpu --out results/cpu/report.pdf

Without ``latexmk`` on the PATH it fails in one line; the DAG asks for the PDF only
where ``latexmk`` is available (:attr:`odebench.pipeline.plan.Plan.latex`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pandas as pd

from odebench.core import artifacts
from odebench.core.cli import command_main
from odebench.core.provenance import git_commit
from odebench.products import registry, report
from odebench.products.claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, UNTESTED
from odebench.products.claims.verdicts import is_paper_claim

SOURCE = Path(__file__).resolve().parents[3] / "paper" / "manuscript.tex"
BUILD_DIR = ".latex"


#: LaTeX for the characters the claims' text uses beyond ASCII (pdflatex knows none of them).
_UNICODE = {
    "±": r"$\pm$", "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "→": r"$\to$",
    "≈": r"$\approx$", "‖": r"$\|$", "–": "--", "—": "---", "²": r"$^2$", "½": r"$\frac12$",
    "·": r"$\cdot$", "−": "-", "’": "'", "“": "``", "”": "''", "μ": r"$\mu$", "∝": r"$\propto$",
    "≠": r"$\neq$", "∈": r"$\in$", "θ": r"$\theta$", "π": r"$\pi$", "Δ": r"$\Delta$",
}  # fmt: skip


def _tex(text: str) -> str:
    """Plain text made safe for pdflatex: special characters escaped, Unicode spelled out."""
    escaped = []
    for char in str(text):
        if char in "\\_%&#${}":
            escaped.append(r"\textbackslash{}" if char == "\\" else "\\" + char)
        elif char in "^~":
            escaped.append(r"\textasciicircum{}" if char == "^" else r"\textasciitilde{}")
        elif char in _UNICODE:
            escaped.append(_UNICODE[char])
        elif ord(char) > 127:  # anything else: its closest ASCII, else dropped
            escaped.append(unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode())
        else:
            escaped.append(char)
    return "".join(escaped)


def numbers(claims: pd.DataFrame, budget: str, commit: str | None = None) -> str:
    """``numbers.tex``: every number the manuscript's text uses, as a macro.

    The verdict counts are of the paper's own claims; ``NFurther`` counts the others.
    ``commit`` is the runs' commit (default: this tree's).
    """
    paper = claims[is_paper_claim(claims)]
    counts = paper["verdict"].value_counts()
    macros = {
        "Budget": budget,
        "Commit": commit or git_commit()[:12],
        "NClaims": str(len(paper)),
        "NReproduced": str(counts.get(REPRODUCED, 0)),
        "NNotReproduced": str(counts.get(NOT_REPRODUCED, 0)),
        "NInconclusive": str(counts.get(INCONCLUSIVE, 0)),
        "NUntested": str(counts.get(UNTESTED, 0)),
        "NFurther": str(len(claims) - len(paper)),
    }
    return "".join(f"\\newcommand{{\\{k}}}{{{_tex(v)}}}\n" for k, v in macros.items())


#: Columns of the verdict tables: number, claim, verdict, measured value, rule.
_VERDICT_COLUMNS = (r"r >{\raggedright\arraybackslash}p{0.17\linewidth} "
                   r">{\raggedright\arraybackslash}p{0.11\linewidth} "
                   r">{\raggedright\arraybackslash}p{0.27\linewidth} "
                   r">{\raggedright\arraybackslash}p{0.31\linewidth}")  # fmt: skip


def _breakable(identifier: str) -> str:
    """A claim id that LaTeX may break after each underscore (ids are long, columns narrow)."""
    return _tex(identifier).replace(r"\_", r"\_\allowbreak{}")


def _rule_or_reason(claim: pd.Series) -> str:
    """The rule that decided a claim; for an untested claim, why not and what would test it
    (a reader of the PDF alone must see why there is no verdict)."""
    if claim["verdict"] != UNTESTED:
        return str(claim["rule"])
    why = str(claim["evidence"]).removeprefix("untested: ").split(". As measured")[0]
    would = str(claim.get("would_test", "") or claim.get("testable_when", ""))
    return f"Untested: {why}." + (f" What would test it: {would}." if would else "")


def verdict_table(claims: pd.DataFrame) -> str:
    """``verdicts.tex``: the paper's claims, then the others, each with value and rule."""
    numbers = pd.Series(range(1, len(claims) + 1), index=claims.index)
    paper = is_paper_claim(claims)
    blocks = []
    for title, part in (
        ("The paper's claims", paper),
        ("Further claims (not the paper's)", ~paper),
    ):
        if not part.any():
            continue
        rows = "\n".join(
            f"{numbers[i]} & \\texttt{{{_breakable(c['claim_id'])}}} & {_tex(c['verdict'])} & "
            f"{_tex(str(c['measured']))} & {_tex(_rule_or_reason(c))} \\\\"
            for i, c in claims[part].iterrows()
        )
        blocks.append(
            f"\\subsection*{{{title}}}\n{{\\footnotesize\n\\begin{{longtable}}{{{_VERDICT_COLUMNS}}}\n"
            "\\toprule\nNo. & Claim & Verdict & Measured & Rule (untested: why) \\\\\n"
            "\\midrule\n\\endhead\n" + rows + "\n\\bottomrule\n\\end{longtable}}\n"
        )
    return "\n".join(blocks)


def products() -> str:
    """``products.tex``: the tables with documents and every figure, in the registry's order,
    each figure captioned with its registry title (which names the paper's figure)."""
    lines = [f"\\maybetable{{{name}}}" for name, table in registry.TABLES.items()
             if table.documents]  # fmt: skip
    lines += ["\\clearpage", "\\section*{Figures}"]
    lines += [f"\\maybefigure{{{name}}}{{{_tex(figure.title)}.}}"
              for name, figure in registry.FIGURES.items()]  # fmt: skip
    return "\n".join(lines) + "\n"


def build(results: Path, out: Path, source: Path = SOURCE) -> Path:
    """Write the generated inputs, run latexmk and move the PDF to ``out``."""
    latexmk = shutil.which("latexmk")
    if latexmk is None:
        raise FileNotFoundError("latexmk not found on the PATH; install a TeX distribution")
    results = Path(results)
    claims = pd.read_csv(results / "claims.csv", keep_default_na=False)
    work = results / BUILD_DIR
    work.mkdir(parents=True, exist_ok=True)
    commits = report.run_commits(report.load_run_provenance(results))
    commit = None  # no run: this tree's
    if len(commits) == 1:
        commit = report.short_commit(commits[0])
    elif commits:
        commit = "several (see report.md)"
    artifacts.write_text(work / "numbers.tex", numbers(claims, results.name, commit))
    artifacts.write_text(work / "verdicts.tex", verdict_table(claims))
    artifacts.write_text(work / "products.tex", products())
    shutil.copyfile(source, work / "manuscript.tex")
    done = subprocess.run(
        [latexmk, "-pdf", "-interaction=nonstopmode", "-halt-on-error", "manuscript.tex"],
        cwd=work, capture_output=True, text=True,
        env=os.environ | {"max_print_line": "1000"},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"latexmk failed; see {work / 'manuscript.log'}")
    pdf = (work / "manuscript.pdf").read_bytes()
    artifacts.write_atomic(Path(out), lambda f: f.write(pdf))
    return Path(out)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, required=True, help="results/<budget>")
    parser.add_argument("--out", type=Path, required=True, help="the PDF to write")
    parser.add_argument("--source", type=Path, default=SOURCE, help="the manuscript (.tex)")


def _build(args: argparse.Namespace) -> None:
    build(args.results, args.out, args.source)
    print(f"wrote {args.out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    return command_main(
        "python -m odebench.products.manuscript", __doc__.split("\n")[0], _arguments, _build,
        argv, errors=(FileNotFoundError, RuntimeError),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
