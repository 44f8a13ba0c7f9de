import pytest

from odebench.cnf import family as cnf_family
from odebench.core import backends
from odebench.mnist import family as mnist_family
from odebench.pipeline import config as configuration
from odebench.pipeline.config import ConfigError
from odebench.spirals import family as spirals_family


def set_key(config: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value
    return config


#: Each bad config and what its one-line error must name.
BAD_CONFIGS = {
    "unknown budget": ("budget", "laptop", r"budget: 'laptop' is not allowed; choose one of: smoke, cpu, paper"),
    "unknown model": ("budgets.cpu.mnist.models", ["mlp", "vgg"], r"budgets.cpu.mnist.models.1: 'vgg' is not allowed; choose one of: mlp, resnet"),
    "empty seed list": ("seeds", [], r"seeds: \[\] should be non-empty"),
    "zero tolerance": ("tolerances", [1e-3, 0], r"tolerances.1: 0 is less than or equal to the minimum of 0"),
    "negative tolerance": ("tolerances", [-1e-3], r"tolerances.0: -0.001 is less than or equal"),
    "negative epochs": ("budgets.smoke.mnist.epochs", -2, r"budgets.smoke.mnist.epochs: -2 is less than the minimum of 1"),
    "wrong type": ("threads", "two", r"threads: 'two' has the wrong type; expected integer or null"),
    "unknown key": ("budgets.cpu.mnist.epoch", 3, r"budgets.cpu.mnist: Additional properties are not allowed \('epoch' was unexpected\)"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_fails_with_one_line_naming_the_key(base_config, case):
    key, value, message = BAD_CONFIGS[case]
    with pytest.raises(ConfigError, match=message) as err:
        configuration.validate(set_key(base_config, key, value))
    assert "\n" not in str(err.value)


def test_shipped_config_is_valid_and_defaults_to_the_cpu_budget(base_config):
    configuration.validate(base_config)
    assert base_config["budget"] == "cpu"


def test_command_line_lists_become_numbers(base_config):
    # snakemake --config seeds=[0,1] hands over strings (YAML BaseLoader)
    base_config.update(seeds=["0", "1"], tolerances=["1e-3", "0.01"])
    configuration.coerce_cli_values(base_config)
    assert base_config["seeds"] == [0, 1]
    assert base_config["tolerances"] == [1e-3, 0.01]


def test_top_level_seeds_and_tolerances_override_the_budget(base_config):
    base_config.update(budget="smoke", seeds=[4, 5], tolerances=[1e-2, 1e-4])
    resolved = configuration.resolve(base_config)
    assert resolved["seeds"] == [4, 5]
    assert resolved["tolerances"] == [1e-2, 1e-4]
    assert resolved["mnist"]["epochs"] == base_config["budgets"]["smoke"]["mnist"]["epochs"]


def test_threads_are_the_budgets_own_unless_set_at_the_top_level(base_config):
    # smoke's jobs are short enough that two one-thread jobs at once beat one with two
    assert [configuration.resolve(base_config | {"budget": b})["threads"]
            for b in ("smoke", "cpu", "paper")] == [1, 2, 2]  # fmt: skip
    assert configuration.resolve(base_config | {"budget": "smoke", "threads": 2})["threads"] == 2


def test_run_config_is_complete_and_names_its_arm(base_config):
    resolved = configuration.resolve(base_config | {"budget": "smoke"})
    run = mnist_family.mnist_run(resolved, "odenet", seed=2, tol=1e-3)
    assert run["model"] == "odenet" and run["seed"] == 2 and run["tol"] == 1e-3
    assert "models" not in run
    with pytest.raises(ConfigError, match="tol must be given"):
        mnist_family.mnist_run(resolved, "resnet", seed=0, tol=1e-3)


def test_paper_budget_keeps_the_papers_schedule(base_config):
    paper = base_config["budgets"]["paper"]["mnist"]
    assert paper["epochs"] == 160
    assert [round(f * 160) for f in paper["lr_milestones"]] == [60, 100, 140]


def test_model_overrides_change_only_their_model(base_config):
    resolved = configuration.resolve(base_config)
    assert mnist_family.mnist_run(resolved, "mlp", 0, None)["crop_padding"] == 0
    assert "crop_padding" not in mnist_family.mnist_run(resolved, "resnet", 0, None)
    assert "model_overrides" not in mnist_family.mnist_run(resolved, "resnet", 0, None)


def test_overrides_for_an_unknown_model_are_rejected(base_config):
    base_config["budgets"]["cpu"]["mnist"]["model_overrides"] = {"vgg": {"crop_padding": 0}}
    with pytest.raises(ConfigError, match="model_overrides: 'vgg' is not allowed"):
        configuration.validate(base_config)


def test_every_ode_run_config_carries_the_solver_section(base_config):
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from odebench.pipeline.plan import Plan

    solver = {"backend": "torchdiffeq", "adjoint_norm": "seminorm"}
    plan = Plan(base_config | {"budget": "smoke", "solver": solver})
    families = ("mnist", "probe", "spirals", "cnf_density", "cnf_likelihood", "cnf_trace")
    for family in families:
        run_dirs = plan.run_dirs(family)
        assert run_dirs, family
        for run_dir in run_dirs:
            path = Path(run_dir)
            wildcards = SimpleNamespace(arm=path.parent.name, seed=path.name.removeprefix("seed"))
            run = json.loads(plan.run_config(family)(wildcards))
            assert {k: run[k] for k in solver} == solver, run_dir


def test_the_schema_offers_the_registered_backends_and_norms_with_their_defaults(repo):
    import yaml

    from odebench.core.solving import (
        ADJOINT_NORMS,
        BACKENDS,
        DEFAULT_ADJOINT_NORM,
        DEFAULT_BACKEND,
    )
    from odebench.pipeline.config import DEFAULT_SOLVER

    schema = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())
    solver = schema["properties"]["solver"]["properties"]
    # torchode is measured, not trained with (see the schema's description)
    assert set(solver["backend"]["enum"]) == set(BACKENDS) - {"torchode"}
    assert set(solver["adjoint_norm"]["enum"]) == set(ADJOINT_NORMS)
    assert DEFAULT_SOLVER == {"backend": DEFAULT_BACKEND, "adjoint_norm": DEFAULT_ADJOINT_NORM}
    # ... and the torch-free table they come from says the same
    probe = schema["$defs"]["solver_studies"]["properties"]["probe"]["properties"]
    assert set(solver["backend"]["enum"]) == set(backends.TRAINING_BACKENDS)
    assert set(probe["sweep_backends"]["items"]["enum"]) == set(backends.BACKENDS)
    assert list(BACKENDS) == list(backends.BACKENDS)
    assert set(solver["adjoint_norm"]["enum"]) == set(backends.ADJOINT_NORMS)


def test_the_backends_table_names_the_joint_step_control_backends_the_products_select():
    from odebench.products.tables.solver_studies import JOINT_BACKENDS

    assert JOINT_BACKENDS == backends.JOINT_BACKENDS == ("torchdiffeq", "lean")
    assert not backends.BACKENDS["torchode"].joint_step_control


def test_only_the_families_a_gpu_speeds_up_train_on_it(base_config):
    from odebench.pipeline.config import GPU_FAMILIES

    resolved = configuration.resolve(base_config | {"budget": "smoke", "device": "cuda"})
    assert GPU_FAMILIES == {"mnist"}
    assert mnist_family.mnist_run(resolved, "odenet", 0, 0.1)["device"] == "cuda"
    assert spirals_family.spirals_run(resolved, "latent_ode", 30, 0)["device"] == "cpu"
    model = next(iter(resolved["cnf"]["density"]["models"]))
    target = resolved["cnf"]["density"]["targets"][0]
    assert cnf_family.cnf_density_run(resolved, target, model, 2, 0)["device"] == "cpu"
