"""What a budget's jobs are: the plan's runs per family, grouped into arms.

An :class:`Arm` is the jobs of one family whose cost per step is the same (they differ
only in seed, or in a setting that does not change a step's work); it is measured once
(:mod:`~odebench.perf.cost.measure`) and holds what one of its jobs costs. Here too: the
families and their Snakemake rules (:data:`RULES`), the config the estimate reads
(:func:`load_config`), the data it needs (:func:`check_data`) and what the budget's own
runs recorded (:func:`recorded`).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from odebench.core import paths
from odebench.families import RUN_FAMILIES
from odebench.mnist import family as mnist_family
from odebench.pipeline import config as configuration
from odebench.pipeline.plan import Plan
from odebench.products import registry
from odebench.spirals import family as spirals_family

#: Families in the order the table lists them: the run families
#: (:data:`odebench.families.RUN_FAMILIES`), then ``memory_scaling``, the one job the
#: plan does not list by run directory (its rule writes a table).
FAMILIES = (*RUN_FAMILIES, "memory_scaling")
#: Families whose runs train on the config's device; the others run on the CPU always.
DEVICE_FAMILIES = tuple(f for f in FAMILIES if f in configuration.GPU_FAMILIES)
#: Family -> (its Snakemake rule, the threads that rule asks for; None = the resolved
#: ``threads``): the run families' descriptors, and workflow/rules/mnist.smk's
#: ``memory_scaling`` (tests/perf/test_cost.py checks it).
RULES: dict[str, tuple[str, int | None]] = {
    **{name: (family.rule, family.threads) for name, family in RUN_FAMILIES.items()},
    "memory_scaling": ("memory_scaling", 1),
}
#: Spirals models without parameters: nothing to train (one validation and a test pass).
SPIRALS_REFERENCES = ("hold_last", "linear")

ARM_KEYS = ("family", "arm", "runs", "run_dirs", "device", "threads", "steps_per_run",
            "seconds_per_step", "nfe_per_step", "eval_seconds_per_run", "study_seconds_per_run",
            "startup_seconds_per_run", "seconds_per_run", "hours", "recorded_hours",
            "recorded_runs", "recorded_nfe_per_step", "note")  # fmt: skip


class CostError(ValueError):
    """Bad input (unknown budget, missing data); the message is one line."""


@dataclass
class Arm:
    """Jobs of one family whose cost per step is the same, and what one of them costs."""

    family: str
    arm: str
    run_dirs: list[str]
    config: dict[str, Any]  # the first run's complete config: the one timed
    threads: int = 1
    device: str = "cpu"
    steps_per_run: int | None = None  # training steps; None for studies
    seconds_per_step: float | None = None
    eval_seconds_per_run: float = 0.0
    study_seconds_per_run: float | None = None  # whole job, for studies and references
    startup_seconds_per_run: float = 0.0
    nfe_per_step: float | None = None  # forward + backward NFE of a timed step (median)
    recorded_seconds: list[float] = field(default_factory=list)
    recorded_nfe: list[float] = field(default_factory=list)
    note: str = ""
    failed: str | None = None  # why it could not be costed

    @property
    def runs(self) -> int:
        return len(self.run_dirs)

    @property
    def seconds_per_run(self) -> float | None:
        """Seconds of one job, start-up included; None when not costed."""
        if self.failed is not None:
            return None
        if self.study_seconds_per_run is not None:
            work = self.study_seconds_per_run
        elif self.steps_per_run is not None and self.seconds_per_step is not None:
            work = self.steps_per_run * self.seconds_per_step
        else:
            return None
        return work + self.eval_seconds_per_run + self.startup_seconds_per_run

    @property
    def hours(self) -> float | None:
        per_run = self.seconds_per_run
        return None if per_run is None else per_run * self.runs / 3600

    def record(self) -> dict[str, Any]:
        """The arm as :data:`ARM_KEYS`."""
        recorded = sum(self.recorded_seconds) / 3600 if self.recorded_seconds else None
        nfe = statistics.mean(self.recorded_nfe) if self.recorded_nfe else None
        values = {"runs": self.runs, "seconds_per_run": self.seconds_per_run, "hours": self.hours,
                  "recorded_hours": recorded, "recorded_runs": len(self.recorded_seconds),
                  "recorded_nfe_per_step": nfe, "note": self.failed or self.note}  # fmt: skip
        return {key: values[key] if key in values else getattr(self, key) for key in ARM_KEYS}


# -- the plan's jobs, grouped ---------------------------------------------------------------


def load_config(budget: str | None, configfile: Path, device: str | None,
                threads: int | None) -> dict[str, Any]:  # fmt: skip
    """config.yaml with budget, device and threads chosen; an unknown budget fails in one line."""
    configfile = Path(configfile)
    if not configfile.is_file():
        raise CostError(f"{configfile}: not found")
    with open(configfile) as f:
        raw = yaml.safe_load(f)
    known = list((raw or {}).get("budgets") or {})
    if budget is not None and budget not in known:
        raise CostError(f"unknown budget {budget!r}; known: {', '.join(known)}")
    overrides: dict[str, Any] = {}
    if budget is not None:
        overrides["budget"] = budget
    if device is not None:
        overrides["device"] = device
    if threads is not None:
        overrides["threads"] = threads
    return configuration.load(configfile, overrides)


def _wildcards(run_dir: str) -> SimpleNamespace:
    """{arm} and {seed} of ``results/<budget>/runs/<family>/<arm>/seed<seed>``."""
    path = Path(run_dir)
    return SimpleNamespace(arm=path.parent.name, seed=path.name.removeprefix("seed"))


def _group(family: str, config: Mapping[str, Any]) -> tuple[str, str]:
    """(key, label) of the arm a run belongs to: runs with one key cost the same per step."""
    if family == "mnist":
        name = mnist_family.arm_name(config["model"], config["tol"])
        return name, name
    if family == "probe":
        return "probe", "fresh odenet, for every tol"
    if family == "spirals":
        if config["model"] in SPIRALS_REFERENCES:
            return "references", f"{', '.join(SPIRALS_REFERENCES)}: untrained"
        name = spirals_family.spirals_arm(config["model"], config["n_obs"])
        return name, name
    if family == "cnf_density":
        name = f"{config['model']}{config['capacity']}"
        return name, f"{name}, every target"
    if family == "cnf_likelihood":
        name = f"{config['model']}{config['capacity']}"
        return name, f"{name}, every data set"
    return "study", "study"


def enumerate_arms(plan: Plan, families: Sequence[str] = FAMILIES) -> list[Arm]:
    """Every job of ``plan`` in ``families``, grouped into arms (first seen, first listed).

    Threads are the rule's (capped by nothing here: see :func:`price`); the device is
    the plan's for training families and the CPU for the others.
    """
    device = "cuda" if plan.gpu else "cpu"
    arms: dict[tuple[str, str], Arm] = {}
    for family in families:
        rule_threads = RULES[family][1] or int(plan.run["threads"])
        on = device if family in DEVICE_FAMILIES else "cpu"
        if family == "memory_scaling":
            table = plan.table(registry.MEMORY_SCALING.name)  # the rule's one output
            memory = json.loads(plan.memory_config())
            arms[(family, "study")] = Arm(
                family, "every method and depth", [table], memory, rule_threads, "cpu"
            )
            continue
        build = plan.run_config(family)
        for run_dir in plan.run_dirs(family):
            config = json.loads(build(_wildcards(run_dir)))
            key, label = _group(family, config)
            if (family, key) not in arms:
                arms[(family, key)] = Arm(family, label, [], config, rule_threads, on)
            arms[(family, key)].run_dirs.append(run_dir)
    return list(arms.values())


def _metrics_json(run_dir: str) -> Path:
    """A run's metrics.json: the user's own (``results/``) where it exists, else the
    committed reference run's (``reference/``)."""
    own = Path(run_dir) / paths.METRICS_JSON
    try:
        reference = paths.in_reference(own)
    except ValueError:
        return own
    return own if own.is_file() or not reference.is_file() else reference


def recorded(run_dirs: Sequence[str]) -> tuple[list[float], list[float]]:
    """``wall_seconds`` and NFE per training step (forward + backward, late in training)
    of the runs among ``run_dirs`` that have a metrics.json (:func:`_metrics_json`)."""
    seconds, nfe = [], []
    for run_dir in run_dirs:
        path = _metrics_json(run_dir)
        try:
            metrics = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            continue
        if isinstance(metrics.get("wall_seconds"), int | float):
            seconds.append(float(metrics["wall_seconds"]))
        forward, backward = metrics.get("nfe_forward"), metrics.get("nfe_backward")
        if isinstance(forward, int | float) and isinstance(backward, int | float):
            nfe.append(float(forward + backward))
    return seconds, nfe


def check_data(plan: Plan, families: Sequence[str]) -> None:
    """Fail before any work when a family needs the prepared MNIST and it is missing."""
    if not {"mnist", "probe"} & set(families) or not (plan.arms["mnist"] or plan.arms["probe"]):
        return
    npz = Path(plan.run["data"]["mnist_npz"])
    if not npz.is_file():
        raise CostError(f"{npz}: MNIST data not found; make it with "
                        f"`python -m odebench.mnist.data --out {npz}`")  # fmt: skip
