"""The report renders from any subset of a budget's products, every figure linked beside it."""

import re
import shutil

import pandas as pd
import pytest

from odebench.products import claims, report


@pytest.fixture()
def cpu_results(repo, tmp_path):
    """A copy of the committed cpu products (tables, figures, metrics) with fresh claims."""
    source = repo / "reference" / "cpu"
    results = tmp_path / "cpu"
    shutil.copytree(source / "tables", results / "tables")
    shutil.copytree(source / "figures", results / "figures")
    for metrics in source.glob("runs/*/*/seed*/metrics.json"):
        dest = results / metrics.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(metrics, dest)
    reference = repo / "paper" / "reference.yaml"
    code = claims.main(
        ["--tables-dir", str(results / "tables"), "--reference", str(reference),
         "--out", str(results / "claims.csv")]
    )  # fmt: skip
    assert code == 0
    return results


@pytest.fixture()
def rendered(cpu_results):
    out = cpu_results / "report.md"
    assert report.main(["--results", str(cpu_results), "--out", str(out)]) == 0
    return out.read_text()


def _section(text: str, heading: str) -> str:
    return text.split(f"## {heading}\n")[1].split("\n## ")[0]


def test_report_opens_with_the_summary_then_the_papers_claims_apart_from_the_others(rendered):
    headings = re.findall(r"^## (.+)$", rendered, flags=re.MULTILINE)
    assert headings == [
        "Summary", "The paper's claims",
        "Further claims: the ablation, FFJORD's estimator and our own findings",
        "Per-seed values", "The paper's tables, with our numbers", "Figures", "Provenance",
    ]  # fmt: skip
    assert rendered.startswith("# odebench report: budget `cpu`")
    verdicts = _section(rendered, "The paper's claims")
    assert "| # | Claim | Verdict | Measured | Paper | Evidence |" in verdicts
    rows = len(re.findall(r"^\| \d+ \|", verdicts, flags=re.MULTILINE))
    further = _section(rendered, "Further claims: the ablation, FFJORD's estimator and our "
                       "own findings")  # fmt: skip
    rows_further = len(re.findall(r"^\| \d+ \|", further, flags=re.MULTILINE))
    assert rows == sum(c.paper_claim for c in claims.CLAIMS.values())
    assert rows + rows_further == len(claims.CLAIMS)


def test_the_summary_counts_the_papers_claims_and_sets_headline_numbers_beside_the_papers(
    rendered, cpu_results
):
    table = pd.read_csv(cpu_results / "claims.csv")
    own = table[table["paper_claim"].astype(str).str.lower() == "true"]
    summary = _section(rendered, "Summary")
    counts = own["verdict"].value_counts()
    assert f"The paper's {len(own)} claims: " in summary
    for verdict in claims.VERDICTS:
        assert f"{counts.get(verdict, 0)} {verdict}" in summary
    assert "ODE-Net" in summary and "against 0.42%" in summary  # Table 1, the paper's number
    assert "Table 2 (latent ODE extrapolation RMSE)" in summary and "0.1642" in summary
    assert "minutes of run time summed over" in summary


def test_every_verdict_in_the_report_is_one_of_the_four(rendered, cpu_results):
    table = pd.read_csv(cpu_results / "claims.csv")
    verdicts = _section(rendered, "The paper's claims") + _section(
        rendered, "Further claims: the ablation, FFJORD's estimator and our own findings"
    )
    found = re.findall(r"\| \*\*([a-z ]+)\*\* \|", verdicts)
    assert sorted(found) == sorted(table["verdict"])
    assert set(found) <= set(claims.VERDICTS)


def test_arms_with_few_seeds_list_every_seeds_value(rendered, cpu_results):
    section = _section(rendered, "Per-seed values")
    metrics = pd.read_json(cpu_results / "runs/mnist/odenet-tol0.001/seed0/metrics.json",
                           typ="series")  # fmt: skip
    assert "| mnist | odenet-tol0.001 | test error % | 3 | seed 0: " in section
    assert f"seed 0: {metrics['test_error_pct']:.4g}" in section


def test_every_figure_present_is_linked_relative_to_the_report(rendered, cpu_results):
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", rendered)
    pngs = sorted(f"figures/{p.name}" for p in (cpu_results / "figures").glob("*.png"))
    assert sorted(links) == pngs
    assert all((cpu_results / link).is_file() for link in links)


def test_report_includes_the_tables_own_markdown_and_their_data(rendered):
    assert "### Table 1: MNIST test error, parameters and memory" in rendered
    assert "### Table 2: extrapolation RMSE on irregularly sampled spirals" in rendered
    assert "[`tables/table1_mnist.csv`](tables/table1_mnist.csv)" in rendered


def test_missing_products_are_named_not_fatal(cpu_results):
    for suffix in ("csv", "md", "tex"):
        (cpu_results / "tables" / f"trace_estimator.{suffix}").unlink(missing_ok=True)
    assert "Not produced in this run (`tables/trace_estimator.csv`)." in report.render(cpu_results)


def test_a_csv_only_table_is_rendered_as_markdown(cpu_results):
    rows = [{"dataset": "two_moons", "model": "cnf", "n_seeds": 2, "test_nll_mean": 1.23456,
             "test_nll_std": float("nan"), "nfe_forward": 20}]  # fmt: skip
    (cpu_results / "tables" / "cnf_max_likelihood.md").unlink(missing_ok=True)
    pd.DataFrame(rows).to_csv(cpu_results / "tables" / "cnf_max_likelihood.csv", index=False)
    text = report.render(cpu_results)
    assert "### Figure 5: maximum likelihood, NF against CNF" in text
    assert "| two_moons | cnf | 2 | 1.235 | – | 20 |" in text


def test_provenance_sums_wall_time_per_family(rendered, cpu_results):
    metrics = list(cpu_results.glob("runs/spirals/*/seed*/metrics.json"))
    total = sum(pd.read_json(m, typ="series")["wall_seconds"] for m in metrics)
    seeds = ", ".join(sorted({str(pd.read_json(m, typ="series")["seed"]) for m in metrics}))
    assert re.search(rf"\| spirals \| {len(metrics)} \| {len(metrics)} \| {seeds} \| .* "
                     rf"\| {total:.0f} \|", rendered)  # fmt: skip
    assert '"git_commit":' in rendered.split("## Provenance")[1]


def test_report_without_claims_fails_in_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "report.md"
    assert report.main(["--results", str(tmp_path), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"python -m odebench.products.report: error: {tmp_path / 'claims.csv'} is missing; "
        "run python -m odebench.products.claims first"
    )
    assert not out.exists()


def test_report_builds_from_claims_alone(tmp_path, repo):
    claims.main(["--tables-dir", str(tmp_path), "--reference",
                 str(repo / "paper" / "reference.yaml"), "--out", str(tmp_path / "claims.csv")])  # fmt: skip
    text = report.render(tmp_path)
    table = pd.read_csv(tmp_path / "claims.csv")
    own = int((table["paper_claim"].astype(str).str.lower() == "true").sum())
    assert f"The paper's {own} claims: 0 reproduced, 0 not reproduced, 0 inconclusive, " \
        f"{own} untested." in text  # fmt: skip
    assert "No figure was produced in this run." in text


def test_html_report_landing_page_is_the_verdict_table_in_valid_rst(cpu_results):
    from docutils.core import publish_doctree

    landing = cpu_results / "landing.rst"
    out = cpu_results / "report.md"
    assert report.main(["--results", str(cpu_results), "--out", str(out),
                        "--landing", str(landing)]) == 0  # fmt: skip
    text = landing.read_text()
    doctree = publish_doctree(text, settings_overrides={"warning_stream": False})
    problems = [m.astext() for m in doctree.findall() if m.tagname == "system_message"]
    assert problems == []
    table = pd.read_csv(cpu_results / "claims.csv")
    assert text.count("\n   * - ") == len(table) + 1  # header and one row per claim
    for verdict in table["verdict"]:
        assert f"     - {verdict}" in text


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="needs latexmk (.ci/run installs it)")
def test_pdf_report_builds_from_the_products_with_every_number_generated(cpu_results):
    from odebench.products import manuscript

    out = cpu_results / "report.pdf"
    assert manuscript.main(["--results", str(cpu_results), "--out", str(out)]) == 0
    assert out.read_bytes()[:5] == b"%PDF-" and out.stat().st_size > 100_000
    table = pd.read_csv(cpu_results / "claims.csv")
    counts = table[table["paper_claim"].astype(str).str.lower() == "true"]["verdict"].value_counts()
    numbers = (cpu_results / ".latex" / "numbers.tex").read_text()
    assert f"\\newcommand{{\\NUntested}}{{{counts.get('untested', 0)}}}" in numbers
    assert f"\\newcommand{{\\NReproduced}}{{{counts.get('reproduced', 0)}}}" in numbers
    # The manuscript types no number of its own: only the paper's figure numbers.
    body = manuscript.SOURCE.read_text().split("\\begin{document}")[1]
    assert set(re.findall(r"\b\d+\b", body)) <= {"4", "5", "8"}


def test_pdf_report_without_latex_fails_in_one_line_and_writes_nothing(
    cpu_results, monkeypatch, capsys
):
    from odebench.products import manuscript

    monkeypatch.setattr(manuscript.shutil, "which", lambda name: None)
    out = cpu_results / "report.pdf"
    assert manuscript.main(["--results", str(cpu_results), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "python -m odebench.products.manuscript: error: latexmk not found on the PATH; install a TeX distribution"
    )
    assert not out.exists()


def snakemake_log(jobs: int) -> str:
    """Snakemake's log of an invocation that planned and finished ``jobs`` training jobs."""
    text = f"Job stats:\njob  count\ntrain_mnist  {jobs}\ntotal  {jobs}\n\n"
    for job in range(jobs):
        text += (f"[Thu Nov 26 07:00:00 2026]\nlocalrule train_mnist:\n    jobid: {job}\n"
                 f"[Thu Nov 26 08:00:00 2026]\nFinished jobid: {job} (Rule: train_mnist)\n")  # fmt: skip
    return text + "Elapsed time: 1:00:05.5\n"


@pytest.mark.parametrize("whole", [True, False])
def test_the_summary_quotes_the_elapsed_time_of_the_invocation_whose_log_was_kept(
    cpu_results, whole
):
    runs = len(report.load_run_provenance(cpu_results))
    logs = cpu_results / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "snakemake.log").write_text(snakemake_log(runs if whole else 1))
    out = cpu_results / "report.md"
    assert report.main(["--results", str(cpu_results), "--out", str(out)]) == 0
    summary = _section(out.read_text(), "Summary")
    if whole:
        assert "one Snakemake invocation made every run and product in 1:00:05" in summary
    else:
        assert (f"the last Snakemake invocation that ran jobs made 1 of the {runs} runs in "
                "1:00:05; the others came from earlier invocations") in summary  # fmt: skip
    assert "| Table 1 (MNIST) |" in _section(out.read_text(), "Provenance")


def test_the_provenance_says_whether_one_clean_commit_made_every_run(cpu_results):
    runs = report.load_run_provenance(cpu_results)
    one = runs.assign(git_commit="0123456789abcdef")
    assert report.commits_statement(one) == (
        f"all {len(runs)} runs were made by one commit, `0123456789ab`, "
        "from a clean tree (no uncommitted changes)"
    )
    mixed = runs.assign(git_commit=["a" * 40, "a" * 40 + "-dirty", "b" * 40] * (len(runs) // 3)
                        + ["b" * 40] * (len(runs) % 3))  # fmt: skip
    assert report.commits_statement(mixed) == (
        f"the {len(runs)} runs come from 2 commits; {len(runs) // 3} runs from a tree with "
        "uncommitted changes (`-dirty`)"
    )


def test_the_summary_says_what_would_decide_each_open_claim(rendered, cpu_results):
    summary = _section(rendered, "Summary")
    table = pd.read_csv(cpu_results / "claims.csv", keep_default_na=False)
    for c in table[table["verdict"] == "inconclusive"].itertuples():
        assert f"- `{c.claim_id}` (inconclusive): " in summary
    for c in table[(table["verdict"] == "untested") & (table["would_test"] != "")].itertuples():
        assert f"- `{c.claim_id}` (untested): {c.would_test}" in summary
