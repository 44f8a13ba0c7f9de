"""The price of a budget (odebench.perf.cost): its jobs, step counts, totals and errors."""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from odebench.families import RUN_FAMILIES
from odebench.mnist import family as mnist_family
from odebench.perf import cost
from odebench.perf.cost.jobs import _wildcards
from odebench.pipeline import config as configuration
from odebench.pipeline.plan import Plan

#: Keys the module's docstring documents for --json.
TOP_KEYS = {"budget", "configfile", "device", "device_name", "torch", "date_utc", "threads",
            "cores", "steps", "startup_seconds", "other_cpu_use", "arms", "totals", "not_costed",
            "excluded"}  # fmt: skip


def _config_file(base: dict, directory: Path, **data: str) -> Path:
    config = copy.deepcopy(base)
    config["data"].update(data)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def smoke_config(tmp_path_factory, repo, tiny_mnist) -> Path:
    """config.yaml with its MNIST file replaced by the small synthetic one."""
    with open(repo / "config.yaml") as f:
        base = yaml.safe_load(f)
    return _config_file(base, tmp_path_factory.mktemp("cost"), mnist_npz=str(tiny_mnist))


@pytest.fixture(scope="module")
def smoke_price(smoke_config, tmp_path_factory) -> dict:
    """The whole smoke budget priced once, through the command line: stdout, JSON, status."""
    out = tmp_path_factory.mktemp("price") / "cost.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = cost.main(["--budget", "smoke", "--steps", "1", "--cores", "2", "--quiet",
                            "--configfile", str(smoke_config), "--json", str(out)])  # fmt: skip
    assert status == 0, stderr.getvalue()
    return {"stdout": stdout.getvalue(), "json": json.loads(out.read_text()),
            "config": smoke_config}  # fmt: skip


def _plan(config_path: Path, budget: str) -> Plan:
    return Plan(configuration.load(config_path, {"budget": budget}))


def _arms(result: dict, family: str) -> list[dict]:
    return [arm for arm in result["arms"] if arm["family"] == family]


# -- which jobs --------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", ["smoke", "cpu", "paper"])
def test_the_arms_cover_every_run_of_the_plan_once(budget):
    plan = _plan(configuration.DEFAULT_CONFIG, budget)
    arms = cost.enumerate_arms(plan)
    for family in cost.FAMILIES:
        mine = [run for arm in arms if arm.family == family for run in arm.run_dirs]
        if family == "memory_scaling":
            assert mine == [plan.table("memory_scaling")]
            continue
        planned = plan.run_dirs(family)
        assert sorted(mine) == sorted(planned), family
        assert len(mine) == len(set(mine)), family


def test_runs_of_one_arm_differ_only_in_what_does_not_change_a_step():
    plan = _plan(configuration.DEFAULT_CONFIG, "paper")
    # Besides the seed: the target or data set a CNF fits (its step costs the same), the
    # trained run a probe probes (a probe is timed on a fresh ODE-Net), and the model and
    # observations of a spirals reference (nothing to train).
    allowed = {"probe": {"arm", "train_dir"}, "cnf_density": {"target"},
               "cnf_likelihood": {"dataset"}}  # fmt: skip
    for arm in cost.enumerate_arms(plan):
        if arm.family == "memory_scaling":
            continue
        free = {"seed"} | allowed.get(arm.family, set())
        if arm.family == "spirals" and "untrained" in arm.arm:
            free |= {"model", "n_obs"}
        build = plan.run_config(arm.family)
        configs = [json.loads(build(_wildcards(run))) for run in arm.run_dirs]
        for config in configs[1:]:
            differing = {k for k in config if config[k] != configs[0][k]}
            assert differing <= free, (arm.family, arm.arm, differing)


def test_rules_ask_for_the_threads_the_costing_assumes(repo):
    text = "\n".join(p.read_text() for p in sorted((repo / "workflow" / "rules").glob("*.smk")))
    generated = re.search(r"^\s+threads: (.+)$", (repo / "workflow/rules/train.smk").read_text(),
                          re.M).group(1).strip()  # fmt: skip
    assert generated == "PLAN.threads(family.name)"  # each run family's descriptor
    for family, (rule, threads) in cost.RULES.items():
        if family in RUN_FAMILIES:
            assert (rule, threads) == (RUN_FAMILIES[family].rule, RUN_FAMILIES[family].threads)
            continue
        block = re.search(rf"^rule {rule}:\n(.*?)(?=^\S|\Z)", text, re.M | re.S)
        assert block, rule
        asked = re.search(r"^\s+threads: (.+)$", block.group(1), re.M).group(1).strip()
        expected = 'PLAN.run["threads"]' if threads is None else str(threads)
        assert asked == expected, (family, rule, asked)


# -- step counts and timings ---------------------------------------------------------------------


def test_mnist_steps_per_run_are_epochs_times_batches_of_the_training_subset(smoke_price):
    run = configuration.resolve(configuration.load(smoke_price["config"], {"budget": "smoke"}))
    mnist = run["mnist"]
    with np.load(run["data"]["mnist_npz"]) as npz:
        available = len(npz["y_train"])
    n_train = min(mnist["train_subset"] or available, available)
    expected = mnist["epochs"] * math.ceil(n_train / mnist["batch_size"])
    arms = _arms(smoke_price["json"], "mnist")
    assert len(arms) == len(mnist_family.mnist_arms(run))
    assert {arm["steps_per_run"] for arm in arms} == {expected}


def test_mnist_steps_per_run_are_the_steps_a_real_run_takes(smoke_price, tmp_path):
    from odebench.mnist import train as mnist

    plan = _plan(smoke_price["config"], "smoke")
    run_dir = plan.run_dirs("mnist")[0]
    run = json.loads(plan.run_config("mnist")(_wildcards(run_dir)))
    mnist.train(run, tmp_path)
    with open(tmp_path / "steps.csv") as f:
        steps = len(list(csv.DictReader(f)))
    arm = next(a for a in _arms(smoke_price["json"], "mnist") if run_dir in a["run_dirs"])
    assert arm["steps_per_run"] == steps


def test_spirals_and_cnf_steps_per_run_are_their_iterations(smoke_price):
    plan = _plan(smoke_price["config"], "smoke")
    for arm in _arms(smoke_price["json"], "spirals"):
        if "untrained" in arm["arm"]:
            assert arm["steps_per_run"] == 0 and arm["seconds_per_step"] is None
        else:
            assert arm["steps_per_run"] == plan.run["spirals"]["iterations"]
    for family in ("cnf_density", "cnf_likelihood"):
        models = plan.run["cnf"][family.removeprefix("cnf_")]["models"]
        for arm in _arms(smoke_price["json"], family):
            model = arm["arm"].split(",")[0].rstrip("0123456789")
            assert arm["steps_per_run"] == models[model]["iterations"], arm["arm"]


def test_an_arm_costs_its_runs_times_steps_evaluation_and_start_up(smoke_price):
    result = smoke_price["json"]
    assert not result["not_costed"]
    for arm in result["arms"]:
        assert arm["seconds_per_run"] > 0 and arm["runs"] >= 1
        if arm["seconds_per_step"] is not None:
            assert arm["seconds_per_step"] > 0
            work = arm["steps_per_run"] * arm["seconds_per_step"]
        else:
            work = arm["study_seconds_per_run"]
        per_run = work + arm["eval_seconds_per_run"] + arm["startup_seconds_per_run"]
        assert arm["seconds_per_run"] == pytest.approx(per_run)
        assert arm["hours"] == pytest.approx(arm["runs"] * per_run / 3600)
    assert result["totals"]["jobs"] == sum(arm["runs"] for arm in result["arms"])
    assert result["totals"]["sequential_hours"] == pytest.approx(
        sum(arm["hours"] for arm in result["arms"]))  # fmt: skip


def test_steps_count_the_function_evaluations_of_ode_models_only(smoke_price):
    nfe = {arm["arm"]: arm["nfe_per_step"] for arm in _arms(smoke_price["json"], "mnist")}
    assert nfe["mlp"] == nfe["resnet"] == nfe["stem"] == 0
    assert nfe["odenet-tol0.1"] > 0 and nfe["rknet-tol0.1"] > 0


def test_probe_trace_and_memory_studies_are_costed(smoke_price):
    for family in ("probe", "cnf_trace", "memory_scaling"):
        (arm,) = _arms(smoke_price["json"], family)
        assert arm["steps_per_run"] is None
        assert arm["study_seconds_per_run"] > 0, family
        assert arm["device"] == "cpu"


def test_jobs_take_their_rules_threads_capped_by_the_cores(smoke_price):
    config = configuration.load(smoke_price["config"], {"budget": "smoke"})
    budget_threads = configuration.resolve(config)["threads"]
    for arm in smoke_price["json"]["arms"]:
        rule_threads = cost.RULES[arm["family"]][1]
        assert arm["threads"] == min(2, rule_threads or budget_threads)


# -- totals -----------------------------------------------------------------------------------


def test_packed_makespan_lies_between_the_longest_job_and_the_sum():
    rng = random.Random(0)
    for _ in range(50):
        jobs = [(rng.uniform(0.1, 100), rng.choice([1, 2, 4])) for _ in range(rng.randint(1, 30))]
        cores = rng.choice([1, 2, 3, 4, 8])
        makespan = cost.pack(jobs, cores)
        assert max(s for s, _ in jobs) <= makespan + 1e-9
        assert makespan <= sum(s for s, _ in jobs) + 1e-9


def test_packing_jobs_of_equal_threads_uses_cores_over_threads_slots():
    # Two slots of two cores, longest first: 5 | 4, then 3 after 4, 3 after 5.
    assert cost.pack([(3, 2), (5, 2), (4, 2), (3, 2)], 4) == 8
    assert cost.pack([(3, 1), (5, 1), (4, 1)], 1) == 12
    assert cost.pack([(3, 1), (5, 1), (4, 1)], 3) == 5
    assert cost.pack([(3, 8)], 2) == 3  # a job never asks for more cores than there are


def test_the_smoke_budget_packs_between_its_longest_job_and_its_sum(smoke_price):
    totals = smoke_price["json"]["totals"]
    assert totals["packed_jobs"] == "all" and totals["packed_cores"] == 2
    assert totals["longest_job_hours"] <= totals["packed_hours"] <= totals["sequential_hours"]
    assert totals["device_hours"] == {"cpu": pytest.approx(totals["sequential_hours"])}
    assert totals["gpu_estimate_hours"] is None


# -- output -----------------------------------------------------------------------------------


def test_json_output_has_the_documented_keys(smoke_price):
    result = smoke_price["json"]
    assert set(result) == TOP_KEYS
    assert result["budget"] == "smoke" and result["steps"] == 1 and result["device"] == "cpu"
    assert result["date_utc"].endswith("UTC")
    assert all(list(arm) == list(cost.ARM_KEYS) for arm in result["arms"])
    assert list(result["totals"]) == list(cost.TOTAL_KEYS)
    assert {arm["family"] for arm in result["arms"]} == set(cost.FAMILIES)


def test_the_report_names_the_device_torch_and_every_arm_on_one_screen(smoke_price):
    text, result = smoke_price["stdout"], smoke_price["json"]
    assert result["device_name"] in text and result["torch"] in text and "UTC" in text
    assert "one after another" in text and "packed on 2 cores" in text
    for arm in result["arms"]:
        assert re.search(rf"^{arm['family']}\s+{re.escape(arm['arm'][:28])}", text, re.M)
    lines = text.splitlines()
    width = len(next(line for line in lines if line.startswith("family")))
    assert width <= 120
    # Prose folds to the table's width (a single long word, such as a path, may not).
    assert all(len(line) <= width or " " not in line.strip() for line in lines)


# -- errors -----------------------------------------------------------------------------------


def test_a_missing_mnist_file_fails_in_one_line_naming_the_command(base_config, tmp_path, capsys):
    missing = tmp_path / "nowhere" / "mnist.npz"
    config = _config_file(base_config, tmp_path, mnist_npz=str(missing))
    out = tmp_path / "cost.json"
    status = cost.main(["--budget", "smoke", "--configfile", str(config), "--json", str(out)])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert str(missing) in line
    assert f"python -m odebench.mnist.data --out {missing}" in line
    assert not out.exists()


def test_an_unknown_budget_lists_the_known_ones(capsys):
    assert cost.main(["--budget", "huge"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith("unknown budget 'huge'; known: smoke, cpu, paper")


def test_cuda_that_is_not_there_fails_in_one_line(smoke_price, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    status = cost.main(["--budget", "smoke", "--device", "cuda",
                        "--configfile", str(smoke_price["config"])])  # fmt: skip
    assert status == 1
    assert "cuda requested but not available" in capsys.readouterr().err
