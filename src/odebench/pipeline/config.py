"""Loading, validating and resolving config.yaml.

The Snakefile and every entry point validate the same way: against the JSON
schema in ``workflow/schemas/config.schema.yaml`` plus the few checks a schema
cannot express, failing with one line that names the offending key and what is
allowed (:class:`ConfigError`), before any work is done.

``resolve`` turns the config into what one budget means (its seeds, tolerances
and per-family settings, with top-level overrides applied). The complete,
self-contained config of one training run, which is what a run stores and hashes,
comes from its run family's descriptor (``RunFamily.run_config``, in each experiment
package's ``family.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from odebench.core import backends
from odebench.core.family import ConfigError
from odebench.families import RUN_FAMILIES

__all__ = ["ConfigError", "DEFAULT_CONFIG", "DEFAULT_SOLVER", "GPU_FAMILIES", "SCHEMA",
           "coerce_cli_values", "load", "load_schema", "resolve", "validate"]  # fmt: skip

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO_ROOT / "config.yaml"
SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


#: Top-level keys a user overrides with a list on the command line.
LIST_OVERRIDES = ("seeds", "tolerances")


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
    # Figure 5's runs may have more seeds again (their spread asks for it); null = the CNF's.
    likelihood = resolved["cnf"]["likelihood"]
    if config.get("seeds") is not None or likelihood.get("seeds") is None:
        likelihood["seeds"] = list(resolved["cnf"]["seeds"])
    resolved["device"] = config["device"]
    resolved["solver"] = dict(config.get("solver") or DEFAULT_SOLVER)
    resolved["data"] = dict(config["data"])
    return resolved


#: The top-level ``solver`` section when a config has none (odebench.core.backends).
DEFAULT_SOLVER = backends.DEFAULT_SOLVER


#: Run families that train on the config's ``device``; the others train on the CPU
#: whatever it says (each descriptor's ``on_device`` says why).
GPU_FAMILIES = frozenset(name for name, family in RUN_FAMILIES.items() if family.on_device)
