"""The report as a PDF, from ``paper/manuscript.tex`` and the budget's generated products.

Numbers never appear in the manuscript itself: this module writes them from
``claims.csv`` and the runs' provenance into ``numbers.tex`` (macros) and
``verdicts.tex`` (the verdict table) in ``results/<budget>/.latex/``, copies the
manuscript beside them, and runs ``latexmk`` there; the tables (``tables/*.tex``)
and figures are read from ``results/<budget>/``. The PDF is moved into place only
when the build succeeded.

    python -m odebench.products.manuscript --results results/cpu --out results/cpu/report.pdf

Without ``latexmk`` on the PATH it fails in one line; the DAG asks for the PDF only
where ``latexmk`` is available (:attr:`odebench.dag.Plan.latex`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from odebench.core import artifacts
from odebench.core.provenance import git_commit
from odebench.products.claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

SOURCE = Path(__file__).resolve().parents[3] / "paper" / "manuscript.tex"
BUILD_DIR = ".latex"


def _tex(text: str) -> str:
    """Plain text made safe for LaTeX (the claims' ids and verdicts are ASCII)."""
    for char, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"),
                          ("&", r"\&"), ("#", r"\#"), ("$", r"\$")):  # fmt: skip
        text = text.replace(char, escaped)
    return text


def numbers(claims: pd.DataFrame, budget: str) -> str:
    """``numbers.tex``: every number the manuscript's text uses, as a macro."""
    counts = claims["verdict"].value_counts()
    macros = {
        "Budget": budget,
        "Commit": git_commit()[:12],
        "NClaims": str(len(claims)),
        "NReproduced": str(counts.get(REPRODUCED, 0)),
        "NNotReproduced": str(counts.get(NOT_REPRODUCED, 0)),
        "NInconclusive": str(counts.get(INCONCLUSIVE, 0)),
    }
    return "".join(f"\\newcommand{{\\{k}}}{{{_tex(v)}}}\n" for k, v in macros.items())


def verdict_table(claims: pd.DataFrame) -> str:
    """``verdicts.tex``: one row per claim, its id and verdict."""
    rows = "\n".join(
        f"{i} & \\texttt{{{_tex(c['claim_id'])}}} & {_tex(c['verdict'])} \\\\"
        for i, (_, c) in enumerate(claims.iterrows(), start=1)
    )
    return (
        "\\begin{tabular}{rll}\n\\toprule\nNo. & Claim & Verdict \\\\\n\\midrule\n"
        + rows
        + "\n\\bottomrule\n\\end{tabular}\n"
    )


def build(results: Path, out: Path, source: Path = SOURCE) -> Path:
    """Write the generated inputs, run latexmk and move the PDF to ``out``."""
    latexmk = shutil.which("latexmk")
    if latexmk is None:
        raise FileNotFoundError("latexmk not found on the PATH; install a TeX distribution")
    results = Path(results)
    claims = pd.read_csv(results / "claims.csv", keep_default_na=False)
    work = results / BUILD_DIR
    work.mkdir(parents=True, exist_ok=True)
    artifacts.write_text(work / "numbers.tex", numbers(claims, results.name))
    artifacts.write_text(work / "verdicts.tex", verdict_table(claims))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.products.manuscript", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--results", type=Path, required=True, help="results/<budget>")
    parser.add_argument("--out", type=Path, required=True, help="the PDF to write")
    parser.add_argument("--source", type=Path, default=SOURCE, help="the manuscript (.tex)")
    args = parser.parse_args(argv)
    try:
        build(args.results, args.out, args.source)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"odebench.manuscript: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
