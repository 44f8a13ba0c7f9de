"""Loading, validating and resolving config.yaml.

The Snakefile and every entry point validate the same way: against the JSON
schema in ``workflow/schemas/config.schema.yaml`` plus the few checks a schema
cannot express, failing with one line that names the offending key and what is
allowed (:class:`ConfigError`), before any work is done.

``resolve`` turns the config into what one budget means (its seeds, tolerances
and per-family settings, with top-level overrides applied); ``mnist_run`` gives
the complete, self-contained config of one training run, which is what a run
stores and hashes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from odebench.core import backends, paths
from odebench.mnist.arms import ARMS as MODELS
from odebench.mnist.arms import ODE_MODELS

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO_ROOT / "config.yaml"
SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


#: Top-level keys a user overrides with a list on the command line.
LIST_OVERRIDES = ("seeds", "tolerances")


class ConfigError(ValueError):
    """An invalid config; the message is one line naming the key."""


def _key_path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line: the key, the offending value and what the schema allows."""
    key = _key_path(error.absolute_path)
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{key}: {error.instance!r} is not allowed; choose one of: {allowed}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{key}: {error.instance!r} has the wrong type; expected {expected}"
    return f"{key}: {error.message}"


def load_schema(path: Path = SCHEMA) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def _number(text: str) -> Any:
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def coerce_cli_values(config: dict[str, Any]) -> dict[str, Any]:
    """Give ``--config seeds=[0,1]`` the numbers the user meant, in place.

    Snakemake parses list values of ``--config`` with YAML's BaseLoader, which
    keeps every element a string; ``null`` stays the string "null" too.
    """
    for key in LIST_OVERRIDES:
        value = config.get(key)
        if isinstance(value, str) and value in ("null", "None", "~"):
            config[key] = None
        elif isinstance(value, list):
            config[key] = [_number(v) if isinstance(v, str) else v for v in value]
    return config


def validate(config: Mapping[str, Any], schema_path: Path = SCHEMA) -> None:
    """Raise :class:`ConfigError` unless ``config`` is valid.

    Reports the most specific error first, so that e.g. an unknown model name
    points at ``budgets.cpu.mnist.models.2`` rather than at ``budgets``.
    """
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(dict(config)))
    if errors:
        worst = max(errors, key=lambda e: (len(e.absolute_path), -len(e.message)))
        raise ConfigError(f"invalid config: {_describe(worst)}")


def load(path: Path = DEFAULT_CONFIG, overrides: Mapping[str, Any] | None = None) -> dict:
    """Read, override (top-level keys) and validate a config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"invalid config: {path} not found")
    with open(path) as f:
        config = yaml.safe_load(f)
    if not isinstance(config, dict):
        raise ConfigError(f"invalid config: {path} does not hold a mapping")
    config.update(overrides or {})
    validate(config)
    return config


def resolve(config: Mapping[str, Any]) -> dict[str, Any]:
    """The selected budget with top-level ``seeds`` / ``tolerances`` / ``threads``
    overrides applied."""
    budget = config["budget"]
    resolved = copy.deepcopy(dict(config["budgets"][budget]))
    resolved["budget"] = budget
    for key in ("seeds", "tolerances"):
        if config.get(key) is not None:
            resolved[key] = list(config[key])
    if config.get("threads") is not None:
        resolved["threads"] = config["threads"]
    # The CNF and spirals runs are cheap enough for more seeds than the budget's; a
    # top-level ``seeds`` override still applies to every family.
    for family in ("cnf", "spirals"):
        if config.get("seeds") is not None or resolved[family].get("seeds") is None:
            resolved[family]["seeds"] = list(resolved["seeds"])
    resolved["device"] = config["device"]
    resolved["solver"] = dict(config.get("solver") or DEFAULT_SOLVER)
    resolved["data"] = dict(config["data"])
    return resolved


#: The top-level ``solver`` section when a config has none (odebench.core.backends).
DEFAULT_SOLVER = backends.DEFAULT_SOLVER


#: Families that train on the config's ``device``; the others train on the CPU whatever
#: it says. Measured with ``python -m odebench.perf.cost --budget paper`` on one NVIDIA
#: H200 against this project's 2 CPU cores (2026-11-26, seconds per training step):
#: the spirals latent ODE 1.2 against 0.36, a planar CNF 0.076 against 0.017, a planar
#: NF with K = 32 0.024 against 0.0056: their kernels are too small to fill a GPU. The
#: MNIST ODE-Net: 0.12 against 0.42.
GPU_FAMILIES = frozenset({"mnist"})


def family_device(resolved: Mapping[str, Any], family: str) -> str:
    """The device the runs of ``family`` train on (see :data:`GPU_FAMILIES`)."""
    return resolved["device"] if family in GPU_FAMILIES else "cpu"


def _solver(resolved: Mapping[str, Any]) -> dict[str, str]:
    """The ``backend`` and ``adjoint_norm`` keys every ODE run's config carries."""
    return dict(resolved.get("solver") or DEFAULT_SOLVER)


def mnist_arms(resolved: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per Table 1 arm.

    ODE-Nets train once per tolerance (the solver studies probe each); RK-Nets only
    at the first tolerance: backpropagating through the solver is the costliest
    arm, and the paper reports it at one tolerance. Other models train once.
    """
    tolerances = [float(tol) for tol in resolved["tolerances"]]
    per_model = {"odenet": tolerances, "rknet": tolerances[:1]}
    arms = []
    for model in resolved["mnist"]["models"]:
        arms += [{"model": model, "tol": tol} for tol in per_model.get(model, [None])]
    return arms


def mnist_run(
    resolved: Mapping[str, Any], model: str, seed: int, tol: float | None
) -> dict[str, Any]:
    """The complete config of one MNIST training run (stored with its results)."""
    if model not in MODELS:
        raise ConfigError(f"invalid config: model {model!r} is not one of: {', '.join(MODELS)}")
    if (tol is None) == (model in ODE_MODELS):
        raise ConfigError(
            f"invalid config: tol must be given for, and only for, {sorted(ODE_MODELS)}"
        )
    run = copy.deepcopy(dict(resolved["mnist"]))
    run.pop("models")
    run.update(run.pop("model_overrides", {}).get(model, {}))
    run.update(
        family="mnist",
        budget=resolved["budget"],
        model=model,
        seed=int(seed),
        tol=None if tol is None else float(tol),
        device=resolved["device"],
        data=resolved["data"]["mnist_npz"],
        **_solver(resolved),
    )
    return run


def spirals_run(resolved: Mapping[str, Any], model: str, n_obs: int, seed: int) -> dict[str, Any]:
    """The complete config of one Table 2 run (stored with its results)."""
    spec = resolved["spirals"]
    if model not in spec["models"]:
        raise ConfigError(f"invalid config: spirals model {model!r} is not one of {spec['models']}")
    run = {k: v for k, v in spec.items() if k not in ("models", "n_obs", "data", "seeds")}
    run.update(
        family="spirals",
        budget=resolved["budget"],
        model=model,
        n_obs=int(n_obs),
        seed=int(seed),
        device=family_device(resolved, "spirals"),
        data=str(paths.spirals_data(resolved["budget"])),
        **_solver(resolved),
    )
    return run


def spirals_data_run(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The config of the budget's spirals data set (``make_spirals``'s settings)."""
    return dict(resolved["spirals"]["data"]) | {"family": "spirals_data",
                                                 "budget": resolved["budget"]}  # fmt: skip


def probe_run(resolved: Mapping[str, Any], arm: str, seed: int) -> dict[str, Any]:
    """The config of one probe of the trained ODE-Net ``arm`` (``odenet-tol<t>``), ``seed``."""
    train_dir = paths.run_dir(resolved["budget"], "mnist", arm, seed)
    return dict(resolved["solver_studies"]["probe"]) | _solver(resolved) | {
        "family": "probe", "budget": resolved["budget"], "arm": arm, "seed": int(seed),
        "train_dir": str(train_dir), "device": resolved["device"],
    }  # fmt: skip


def memory_run(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The config of the memory-scaling measurement (one training step per depth)."""
    return dict(resolved["solver_studies"]["memory"]) | {"family": "memory_scaling",
                                                         "budget": resolved["budget"]}  # fmt: skip


#: Orientation of a planar NF per CNF task (see :mod:`odebench.cnf.flows`): density matching
#: needs exact samples and log q, maximum likelihood an exact, differentiable log p(x).
NF_DIRECTION = {"density": "generative", "likelihood": "normalizing"}


def _flow_run(resolved: Mapping[str, Any], task: str, model: str, seed: int) -> dict[str, Any]:
    """Shared part of a Figure 4 / Figure 5 run config: solver, task settings, training."""
    spec = resolved["cnf"]
    section = spec[task]
    if model not in section["models"]:
        raise ConfigError(
            f"invalid config: cnf.{task} model {model!r} is not one of {sorted(section['models'])}"
        )
    run = {k: v for k, v in spec.items()
           if k not in ("density", "likelihood", "trace", "seeds")}  # fmt: skip
    run.update({k: v for k, v in section.items()
                if k not in ("models", "targets", "capacities", "datasets")})  # fmt: skip
    run.update(section["models"][model])
    run.update(family=f"cnf_{task}", task=task, budget=resolved["budget"], model=model,
               seed=int(seed), direction=NF_DIRECTION[task],
               device=family_device(resolved, f"cnf_{task}"),
               **_solver(resolved))  # fmt: skip
    return run


def cnf_density_run(
    resolved: Mapping[str, Any], target: str, model: str, capacity: int, seed: int
) -> dict[str, Any]:
    """The complete config of one Figure 4 run (density matching)."""
    return _flow_run(resolved, "density", model, seed) | {
        "target": target,
        "capacity": int(capacity),
    }


def cnf_likelihood_run(
    resolved: Mapping[str, Any], dataset: str, model: str, seed: int
) -> dict[str, Any]:
    """The complete config of one Figure 5 run (maximum likelihood)."""
    run = _flow_run(resolved, "likelihood", model, seed)
    return run | {"dataset": dataset, "capacity": int(resolved["cnf"]["likelihood"]["capacity"])}


def cnf_trace_run(resolved: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The config of one trace-estimator study (FFJORD) with ``seed``."""
    spec = resolved["cnf"]
    shared = {k: spec[k] for k in ("solver", "gradient", "hyper_hidden")}
    return shared | dict(spec["trace"]) | _solver(resolved) | {
        "budget": resolved["budget"], "family": "cnf_trace", "seed": int(seed)
    }  # fmt: skip
