"""What the DAG runs and makes for a config, asked of the same Plan the rules ask."""

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from odebench.pipeline.plan import Plan
from odebench.products import registry


def test_odenets_train_at_every_tolerance_rknets_at_the_first_the_others_once(base_config):
    base_config.update(budget="smoke", tolerances=[1e-2, 1e-3])
    plan = Plan(base_config)
    assert plan.arms["mnist"] == [
        "mlp", "resnet", "rknet-tol0.01", "odenet-tol0.01", "odenet-tol0.001", "stem",
    ]  # fmt: skip


def test_solver_studies_probe_the_table1_odenets_of_every_tolerance_and_seed(base_config):
    base_config.update(budget="smoke", tolerances=[1e-2, 1e-3], seeds=[0, 1])
    plan = Plan(base_config)
    assert plan.run_dirs("mnist", "probed") == [
        f"results/smoke/runs/mnist/odenet-tol{tol}/seed{seed}"
        for tol in ("0.01", "0.001") for seed in (0, 1)
    ]  # fmt: skip
    assert plan.run_dirs("probe")[0] == "results/smoke/runs/probe/odenet-tol0.01/seed0"
    assert set(plan.run_dirs("mnist", "probed")) <= set(plan.run_dirs("mnist"))
    # the probes reuse Table 1's runs, they never train their own


@pytest.mark.parametrize(("device", "gpus"), [("cpu", 0), ("cuda", 1)])
def test_rules_request_a_gpu_only_for_cuda(base_config, device, gpus):
    assert Plan(base_config | {"device": device}).gpu == gpus


def test_planning_imports_neither_torch_nor_matplotlib():
    code = (
        "import sys, odebench.pipeline.plan, odebench.products.registry, "
        "odebench.products.build, odebench.products.report, odebench.products.figures, "
        "odebench.products.manuscript, odebench.products.claims; "
        "print(sorted(m for m in ('torch', 'matplotlib', 'seaborn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("budget", ["smoke", "cpu", "paper"])
def test_every_registered_product_is_a_target_of_every_budget(base_config, budget):
    plan = Plan(base_config | {"budget": budget})
    targets = set(plan.targets())
    for name in registry.TABLES:
        assert set(plan.table_files(name)) <= targets
    for name in registry.FIGURES:
        assert plan.figure(name) in targets
    others = {*plan.report_outputs().values(), *plan.comparison_outputs()}
    assert set(plan.report_inputs()) == targets - others


def test_the_comparison_is_a_target_only_where_the_budget_has_a_reference_run(
    base_config, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the plan's paths are relative to the working directory
    plan = Plan(base_config | {"budget": "smoke"})
    assert plan.reference() is None and plan.comparison_outputs() == []
    (tmp_path / "reference" / "smoke" / "tables").mkdir(parents=True)
    (tmp_path / "reference" / "smoke" / "claims.csv").write_text("claim_id,verdict\n")
    (tmp_path / "reference" / "smoke" / "tables" / "table1_mnist.csv").write_text("model\n")
    plan = Plan(base_config | {"budget": "smoke"})
    assert plan.comparison_outputs() == ["results/smoke/comparison.md",
                                         "results/smoke/comparison.csv"]  # fmt: skip
    assert set(plan.comparison_outputs()) <= set(plan.targets())
    assert plan.reference_inputs() == ["reference/smoke/claims.csv",
                                       "reference/smoke/tables/table1_mnist.csv"]  # fmt: skip


def test_a_table_reads_the_configured_runs_in_arm_then_seed_order(base_config):
    plan = Plan(base_config | {"budget": "smoke", "seeds": [0, 1]})
    inputs = plan.table_inputs(SimpleNamespace(table=registry.TABLE1.name))
    assert list(inputs) == ["metrics"]
    assert inputs["metrics"][:2] == [
        "results/smoke/runs/mnist/mlp/seed0/metrics.json",
        "results/smoke/runs/mnist/mlp/seed1/metrics.json",
    ]
    assert len(inputs["metrics"]) == 2 * len(plan.arms["mnist"])


def test_figure_data_come_from_the_seeds_they_draw_and_settings_from_the_config(base_config):
    plan = Plan(base_config | {"budget": "smoke", "seeds": [3, 4]})
    frames = plan.table_inputs(SimpleNamespace(table=registry.FIG5_FRAMES.name))["frames"]
    assert frames and all("/seed3/" in path for path in frames)
    # Figure 4 picks each arm's median-KL seed, so it reads every seed's grid
    grids = plan.table_inputs(SimpleNamespace(table=registry.FIG4_DENSITIES.name))["grids"]
    assert {"/seed3/" in path for path in grids} == {True, False}
    settings = json.loads(plan.table_settings(SimpleNamespace(table=registry.FIG4_DENSITIES.name)))
    assert settings == {"grid": plan.run["cnf"]["grid"]}


@pytest.mark.parametrize(
    ("family", "wildcards"),
    [
        ("mnist", {"arm": "odenet-tol0.1", "seed": "3"}),
        ("probe", {"arm": "odenet-tol0.1", "seed": "3"}),
        ("spirals", {"arm": "latent_ode-n30", "seed": "3"}),
        ("cnf_density", {"arm": "ring-cnf2", "seed": "3"}),
        ("cnf_likelihood", {"arm": "two_moons-nf", "seed": "3"}),
        ("cnf_trace", {"seed": "3"}),
    ],
)
def test_each_run_gets_one_complete_config_with_its_seed_inside(base_config, family, wildcards):
    plan = Plan(base_config | {"budget": "smoke"})
    run = json.loads(plan.run_config(family)(SimpleNamespace(**wildcards)))
    assert run["seed"] == 3 and run["budget"] == "smoke"
    assert run["family"] == family


def test_every_rule_hands_its_entry_point_one_run_config_and_nothing_else(repo):
    """No --spec, --grid, --seed or --train-dir beside the run config (one way in)."""
    for rules in sorted((repo / "workflow" / "rules").glob("*.smk")):
        text = rules.read_text()
        for flag in ("--spec", "--grid", "--seed", "--train-dir"):
            assert flag not in text, f"{rules.name} passes {flag}"
        commands = re.findall(r'"python -m (odebench[\w.]*)', text)
        for module in commands:
            assert module.startswith(("odebench.products", "odebench.mnist", "odebench.spirals",
                                      "odebench.cnf")), module  # fmt: skip


def test_one_table_rule_and_one_figure_rule_serve_every_family(repo):
    text = "\n".join(p.read_text() for p in (repo / "workflow" / "rules").glob("*.smk"))
    assert len(re.findall(r"(?m)^rule figure\b", text)) == 1
    assert len(re.findall(r"(?m)^rule table\b", text)) == 1
    assert not re.search(r"(?m)^rule \w*(table|figure)\w*:", text.replace("rule table:", "")
                         .replace("rule figure:", ""))  # fmt: skip


def test_device_auto_is_the_only_setting_that_loads_torch_to_plan(repo):
    plan_source = Path(repo / "src" / "odebench" / "pipeline" / "plan.py").read_text()
    assert re.findall(r"(?m)^\s*import torch", plan_source) == ["    import torch"]
