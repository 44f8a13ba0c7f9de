"""The Snakemake DAG end to end, in a temporary copy of the repository, as a user runs it.

The tests that run the smoke DAG are marked ``slow`` (minutes): ``python -m pytest -m "not
slow"`` runs the rest of the suite without them.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from odebench.core import artifacts, paths
from odebench.pipeline.plan import Plan
from odebench.products import invocation, registry


def copy_repo(repo: Path, dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=repo, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        src = repo / name
        if src.is_file() and not name.startswith("results/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    cached = repo / "resources" / "mnist.npz"
    if cached.is_file():  # saves the download; the data rule is tested where it is missing
        (dest / "resources").mkdir()
        os.link(cached, dest / "resources" / "mnist.npz")
    return dest


def snakemake(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def smoke_dag(repo, tmp_path_factory):
    """The whole smoke DAG, run once for this module."""
    work = copy_repo(repo, tmp_path_factory.mktemp("odebench"))
    start = time.perf_counter()
    result = snakemake(work, "--cores", "2", "--config", "budget=smoke")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    return work, elapsed


@pytest.mark.slow
def test_smoke_dag_writes_table1_with_a_row_per_arm(smoke_dag):
    work, _ = smoke_dag
    tables = work / "results" / "smoke" / "tables"
    table = pd.read_csv(tables / "table1_mnist.csv")
    assert list(table["model"]) == ["mlp", "resnet", "rknet", "odenet", "odenet", "stem"]
    assert (table["n_seeds"] == 1).all()
    assert (table.loc[table["model"] == "odenet", "nfe_backward"] > 0).all()
    assert (tables / "table1_mnist.md").read_text().startswith("# Table 1")
    assert (tables / "table1_mnist.tex").is_file()


@pytest.mark.slow
def test_smoke_dag_leaves_a_complete_run_directory_per_run(smoke_dag):
    work, _ = smoke_dag
    runs = sorted((work / "results" / "smoke" / "runs" / "mnist").glob("*/seed0"))
    assert [r.parent.name for r in runs] == sorted(
        ["mlp", "resnet", "rknet-tol0.1", "odenet-tol0.1", "odenet-tol0.01", "stem"]
    )
    for run in runs:
        metrics = artifacts.read_json(run / "metrics.json")
        assert metrics["status"] == "completed"
        assert metrics["config"]["budget"] == "smoke"
        assert "epoch 1/1" in (run / "train.log").read_text()


#: Solver-study products (issue 3) and the columns users rely on.
STUDY_TABLES = {
    "memory_scaling.csv": {"method", "depth", "nfe", "activation_bytes", "peak_rss_bytes"},
    "work_precision.csv": {"train_tol", "solver", "tol_or_steps", "nfe_forward", "error",
                           "seconds", "test_error_pct", "n_seeds"},
    "reversibility.csv": {"train_tol", "tol", "reconstruction_error", "grad_rel_error"},
    "time_vs_nfe.csv": {"train_tol", "solver", "seconds_per_nfe", "r2"},
    "nfe_backward_vs_forward.csv": {"source", "solver", "nfe_forward", "nfe_backward", "count"},
    "nfe_over_training.csv": {"train_tol", "epoch_position", "nfe_forward", "n_seeds"},
}  # fmt: skip
STUDY_FIGURES = [
    "fig3a_nfe_vs_error", "fig3b_time_vs_nfe", "fig3c_nfe_backward_vs_forward",
    "fig3d_nfe_over_training", "memory_scaling", "work_precision",
]  # fmt: skip


@pytest.mark.slow
def test_smoke_dag_solver_studies_cover_both_training_tolerances(smoke_dag):
    work, _ = smoke_dag
    tables = work / "results" / "smoke" / "tables"
    for name in ("work_precision.csv", "reversibility.csv", "nfe_over_training.csv"):
        assert set(pd.read_csv(tables / name)["train_tol"]) == {0.1, 0.01}, name
    memory = pd.read_csv(tables / "memory_scaling.csv")
    assert set(memory["method"]) == {"adjoint", "direct", "resnet"}
    adjoint = memory[memory["method"] == "adjoint"]["activation_bytes"]
    assert adjoint.nunique() == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", [*STUDY_FIGURES, "fig4_density_matching", "fig5_max_likelihood"])
def test_smoke_dag_draws_each_solver_study_and_cnf_figure(smoke_dag, name):
    work, _ = smoke_dag
    png = work / "results" / "smoke" / "figures" / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


@pytest.mark.slow
def test_smoke_dag_writes_table2_with_the_reference_rows_and_figure8(smoke_dag):
    work, _ = smoke_dag
    results = work / "results" / "smoke"
    table = pd.read_csv(results / "tables" / "table2_spirals.csv")
    # smoke: one model of each kind (an RNN, the latent ODE, a reference predictor)
    assert set(table["model"]) == {"rnn", "latent_ode", "hold_last"} and len(table) == 3
    assert {"model", "n_obs", "n_seeds", "rmse_mean", "rmse_std", "paper_rmse", "rmse_ratio",
            "rmse_seeds", "latent_ode_minus_low", "latent_ode_minus_high", "convergence",
            "n_converged", "val_fall_max", "val_excess_max"} <= set(table.columns)  # fmt: skip
    paper = table.set_index(["model", "n_obs"])["paper_rmse"]
    assert paper[("latent_ode", 30)] == 0.1642 and paper[("rnn", 30)] == 0.3937
    assert np.isnan(paper[("hold_last", 30)])  # the paper has no reference predictors
    assert (results / "tables" / "table2_spirals.md").read_text().startswith("# Table 2")
    png = results / "figures" / "fig8_spirals.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000


#: CNF products (issue 5) and the columns users rely on.
CNF_TABLES = {
    "cnf_density_matching.csv": {"target", "model", "capacity", "n_seeds", "kl_mean", "kl_std"},
    "cnf_max_likelihood.csv": {"dataset", "model", "n_seeds", "test_nll_mean", "test_nll_std",
                               "nfe_forward"},
    "trace_estimator.csv": {"dim", "estimator", "seconds_per_step", "nfe", "variance"},
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STUDY_TABLES | CNF_TABLES))
def test_smoke_dag_writes_each_solver_study_and_cnf_table_with_its_columns(smoke_dag, name):
    work, _ = smoke_dag
    table = pd.read_csv(work / "results" / "smoke" / "tables" / name)
    assert len(table) > 0
    assert (STUDY_TABLES | CNF_TABLES)[name] <= set(table.columns)


@pytest.mark.slow
def test_smoke_dag_fits_every_density_arm_and_both_flows_on_two_moons(smoke_dag):
    work, _ = smoke_dag
    tables = work / "results" / "smoke" / "tables"
    density = pd.read_csv(tables / "cnf_density_matching.csv")
    assert len(density) == 1 * 2 * 2  # smoke: 1 target x {nf, cnf} x 2 capacities
    assert set(density["model"]) == {"nf", "cnf"} and (density["n_seeds"] == 1).all()
    likelihood = pd.read_csv(tables / "cnf_max_likelihood.csv").set_index(["dataset", "model"])
    assert set(likelihood.index) == {("two_moons", "nf"), ("two_moons", "cnf")}  # smoke: one
    assert likelihood.loc[("two_moons", "cnf"), "nfe_forward"] > 0
    assert likelihood.loc[("two_moons", "nf"), "nfe_forward"] == 0
    trace = pd.read_csv(tables / "trace_estimator.csv")
    assert set(trace["estimator"]) == {"exact", "hutchinson", "hutchinson_fresh"}


@pytest.mark.slow
@pytest.mark.slow
def test_smoke_dag_writes_every_registered_table_and_figure(smoke_dag, base_config):
    work, _ = smoke_dag
    plan = Plan(base_config | {"budget": "smoke"})
    for table in registry.TABLES:
        for path in plan.table_files(table):
            assert (work / path).is_file(), path
    for figure in registry.FIGURES:
        assert (work / plan.figure(figure)).is_file(), figure


@pytest.mark.slow
def test_smoke_dag_writes_claims_and_the_report(smoke_dag):
    work, _ = smoke_dag
    results = work / "results" / "smoke"
    # The PDF where LaTeX is installed, and only there.
    assert (results / "report.pdf").is_file() == (shutil.which("latexmk") is not None)
    claims = pd.read_csv(results / "claims.csv")
    assert len(claims) >= 13
    assert set(claims["verdict"]) <= {"reproduced", "not reproduced", "inconclusive", "untested"}
    assert (results / "report.md").read_text().startswith("# odebench report: budget `smoke`")


@pytest.mark.slow
def test_snakemake_html_report_builds_from_the_smoke_dag(smoke_dag):
    work, _ = smoke_dag
    html = work / "results" / "smoke" / "report.html"
    result = snakemake(work, "--config", "budget=smoke", "--report", str(html), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    text = html.read_text(errors="replace")
    assert "claims.csv" in text and "fig4_density_matching.png" in text
    # Every product's caption comes from the registry (workflow/report/product.rst).
    for product in [*registry.TABLES.values(), *registry.FIGURES.values()]:
        first_words = " ".join(product.description.split()[:4])
        assert first_words in text, product.name


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A one-node SLURM cluster on this machine (tests/localslurm.py), for this module."""
    from localslurm import LocalSlurm, missing_requirements

    missing = missing_requirements()
    if missing:
        pytest.skip(f"a local SLURM cluster needs {', '.join(missing)} (Debian: slurm-wlm, munge)")
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


#: The rules the SLURM test runs through the cluster, one job each: the first run of
#: every run family (each training rule), the memory study, and Figure 8 with its two
#: tables (products share one rule per kind of table and one figure rule).
SLURM_RULES = ["figure", "memory_scaling", "probe_odenet", "table", "table_with_documents",
               "trace_study", "train_density", "train_likelihood", "train_mnist",
               "train_spirals"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.slurm
def test_smoke_dag_runs_through_the_slurm_profile_to_the_same_products(
    smoke_dag, slurm_cluster, base_config, tmp_path
):
    # Every rule that trains or measures, and a product, submitted with the profile's
    # resources: a copy of the local smoke DAG with those outputs removed, made again
    # through SLURM (the whole DAG as one job each takes minutes more and tests no
    # other rule).
    local, _ = smoke_dag
    work = tmp_path / "slurm"
    shutil.copytree(local, work, symlinks=True)
    plan = Plan(base_config | {"budget": "smoke"})
    runs = [plan.run_dirs(family)[0] for family in plan.arms]
    products = [plan.table("memory_scaling"), *plan.table_files("table2_spirals"),
                plan.figure("fig8_spirals")]  # fmt: skip
    for run in runs:
        shutil.rmtree(work / run)
    for product in products:
        (work / product).unlink()
    exe = Path(sys.executable).with_name("snakemake")
    # The profile as users run it, plus what a cluster without accounting needs.
    result = subprocess.run(
        [str(exe), *(f"{run}/{paths.METRICS_JSON}" for run in runs), *products,
         "--profile", "profiles/slurm", "--config", "budget=smoke",
         "--slurm-no-account", "--slurm-status-command", "squeue",
         "--slurm-init-seconds-before-status-checks", "2", "--latency-wait", "5"],
        cwd=work, env=slurm_cluster.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    submitted = re.findall(r"SLURM jobid \d+ \(log: \S*/rule_(\w+)/", log)
    assert sorted(submitted) == SLURM_RULES, log[-2000:]
    for run in runs:
        theirs = artifacts.read_json(work / run / paths.METRICS_JSON)
        assert theirs["status"] == "completed", run
        assert theirs.keys() == artifacts.read_json(local / run / paths.METRICS_JSON).keys()
    for table in (plan.table("memory_scaling"), plan.table("table2_spirals")):
        theirs, ours = pd.read_csv(work / table), pd.read_csv(local / table)
        assert list(theirs.columns) == list(ours.columns), table
        assert theirs.shape == ours.shape, table
    assert (work / plan.figure("fig8_spirals")).stat().st_size > 10_000


@pytest.mark.slow
def test_smoke_dag_finishes_within_three_minutes(smoke_dag):
    _, elapsed = smoke_dag
    assert elapsed < 180


@pytest.mark.slow
def test_smoke_dag_keeps_snakemake_log_of_the_invocation_that_made_its_runs(smoke_dag):
    work, _ = smoke_dag
    log = work / "results" / "smoke" / "logs" / "snakemake.log"
    made = invocation.parse(log.read_text())
    runs = list((work / "results" / "smoke" / "runs").glob("*/*/seed*/metrics.json"))
    assert made.runs_made == len(runs) > 0


@pytest.mark.slow
def test_with_its_own_run_as_the_reference_the_smoke_dag_only_compares_and_all_agrees(
    smoke_dag, tmp_path
):
    work, _ = smoke_dag
    again = tmp_path / "again"
    shutil.copytree(work, again, symlinks=True)
    shutil.copytree(again / "results" / "smoke", again / "reference" / "smoke",
                    ignore=shutil.ignore_patterns("checkpoint.pt", "model.pt", ".latex"))  # fmt: skip
    result = snakemake(again, "--cores", "2", "--config", "budget=smoke")
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(job_counts(result.stdout + result.stderr)) == {"compare", "all", "total"}
    results = again / "results" / "smoke"
    # Only products ran: the log of the invocation that made the runs stays.
    assert (results / "logs" / "snakemake.log").read_text() == (
        work / "results" / "smoke" / "logs" / "snakemake.log"
    ).read_text()
    text = (results / "comparison.md").read_text()
    claims = len(pd.read_csv(results / "claims.csv"))
    assert f"{claims} of {claims} claims have the same verdict" in text
    numbers = pd.read_csv(results / "comparison.csv")
    assert len(numbers) > 0
    assert set(numbers["judgement"]) <= {"equal", "within seed spread"}


@pytest.mark.slow
def test_nothing_is_left_to_do_after_the_smoke_dag(smoke_dag):
    work, _ = smoke_dag
    result = snakemake(work, "-n", "--config", "budget=smoke")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The ``Job stats`` table of a Snakemake dry run: rule -> number of jobs."""
    stats = dry_run_output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}


def test_a_fresh_clone_plans_every_job_of_its_budget_and_none_from_the_reference(repo, tmp_path):
    # A clone holds the committed reference run and, once prepared, the MNIST data: the
    # main command must still train every run itself and only read the reference to compare.
    work = copy_repo(repo, tmp_path)
    assert (work / "reference" / "cpu" / "claims.csv").is_file()
    result = snakemake(work, "-n", "--cores", "2", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    plan = Plan(yaml.safe_load((work / "config.yaml").read_text()))
    jobs = job_counts(out)
    runs = {"train_mnist": "mnist", "probe_odenet": "probe", "train_spirals": "spirals",
            "train_density": "cnf_density", "train_likelihood": "cnf_likelihood",
            "trace_study": "cnf_trace"}  # fmt: skip
    for rule, family in runs.items():
        assert jobs[rule] == len(plan.run_dirs(family)), rule
    assert jobs["claims"] == jobs["report"] == jobs["compare"] == 1
    assert not re.search(r"output: [^\n]*reference/", out)


@pytest.mark.parametrize(("override", "message"), [
    ("budget=laptop", "budget: 'laptop' is not allowed; choose one of: smoke, cpu, paper"),
    ("seeds=[]", "seeds: [] should be non-empty"),
    ("tolerances=[0]", "tolerances.0: 0 is less than or equal to the minimum of 0"),
    ("threads=two", "threads: 'two' has the wrong type; expected integer or null"),
])  # fmt: skip
def test_bad_config_fails_in_seconds_naming_the_key_and_writes_nothing(
    repo, tmp_path, override, message
):
    work = copy_repo(repo, tmp_path)
    start = time.perf_counter()
    result = snakemake(work, "--cores", "2", "--config", override, timeout=60)
    assert result.returncode != 0
    assert time.perf_counter() - start < 30
    assert message in result.stderr
    assert not (work / "results").exists()


def test_bad_config_file_names_the_nested_key(repo, tmp_path):
    work = copy_repo(repo, tmp_path)
    text = (work / "config.yaml").read_text()
    (work / "config.yaml").write_text(text.replace("epochs: 3", "epochs: -1"))
    result = snakemake(work, "--cores", "2", timeout=60)
    assert result.returncode != 0
    assert "budgets.cpu.mnist.epochs: -1 is less than the minimum of 1" in result.stderr
    assert not (work / "results").exists()


def test_workflow_passes_snakemake_lint(repo, tmp_path):
    work = copy_repo(repo, tmp_path)
    result = snakemake(work, "--lint", timeout=120)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr
