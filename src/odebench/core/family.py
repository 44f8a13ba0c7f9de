"""What the pipeline needs to know about a kind of training run, as one torch-free object.

A :class:`RunFamily` is one kind of run (``runs/<name>/<arm>/seed<seed>/``): how its arms
are named, which arms and seeds a budget holds, the complete config of one run, the
entry point and Snakemake rule that make it, and what that rule needs and writes. Each
experiment package declares its own in ``<package>/family.py`` (free of torch, so that
``snakemake -n`` stays quick), and :mod:`odebench.families` lists them. The planner
(:mod:`odebench.pipeline.plan`), the one rule per run family
(``workflow/rules/train.smk``), the cost model (:mod:`odebench.perf.cost`) and the
invocation's time per part (:mod:`odebench.products.invocation`) read the descriptors
instead of lists of their own.

May import the standard library and core's torch-free :mod:`~odebench.core.paths` and
:mod:`~odebench.core.backends` only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from odebench.core import paths
from odebench.core.backends import DEFAULT_SOLVER

#: The resolved config of one budget (:func:`odebench.pipeline.config.resolve`).
Resolved = Mapping[str, Any]


class ConfigError(ValueError):
    """An invalid config; the message is one line naming the key."""


@dataclass(frozen=True)
class RunFamily:
    """One kind of training run, as data and small torch-free functions.

    Attributes:
        name: the run family, ``runs/<name>/`` (a key of :data:`odebench.families.RUN_FAMILIES`).
        part: the part of the paper its jobs and time count under in the report.
        rule: the Snakemake rule that makes one run (generated from this descriptor).
        command: the entry point after ``python -m``; it takes ``--run-config JSON --out
            DIR --threads N`` (:func:`odebench.core.cli.run_main`).
        arm_pattern: a regular expression of its arm names (the rule's wildcard constraint).
        arms: the arms of a budget, in the order tables list them.
        run_config: the complete config of one run, ``run_config(resolved, arm, seed)``.
        outputs: the rule's outputs: name -> file of the run directory (the log aside).
        log: the run directory's log file.
        inputs: the rule's inputs: ``inputs(resolved)`` -> name -> path or pattern (with
            the rule's ``{arm}`` and ``{seed}`` wildcards).
        seeds_key: the section of the resolved config whose ``seeds`` it trains with
            (dotted for a nested one: ``cnf.likelihood``)
            (None: the budget's own).
        threads: torch threads per job; None: the budget's ``threads``.
        on_device: whether it trains on the config's ``device`` (a GPU where asked);
            the others train on the CPU, their kernels too small to fill a GPU.
        runtime_min: a generous wall-time request of one job in minutes, for clusters
            (default 30).
        mem_mb: the job's memory request.
        priority: Snakemake's priority of its jobs (higher starts first among the jobs
            ready to run). The families on the DAG's longest chain (MNIST training, then
            the probes that Figure 3 waits for) start before the short jobs, which fill
            the cores beside them instead of leaving that chain for the end.
        fixed_arm: the one arm of a family that has no arm wildcard (``study``).
    """

    name: str
    part: str
    rule: str
    command: str
    arm_pattern: str
    arms: Callable[[Resolved], list[str]]
    run_config: Callable[[Resolved, str, int], dict[str, Any]]
    outputs: Mapping[str, str]
    log: str = paths.TRAIN_LOG
    inputs: Callable[[Resolved], dict[str, str]] = field(default=lambda resolved: {})
    seeds_key: str | None = None
    threads: int | None = 1
    on_device: bool = False
    runtime_min: Callable[[Resolved], int] = field(default=lambda resolved: 30)
    mem_mb: int = 2000
    priority: int = 0
    fixed_arm: str | None = None

    def seeds(self, resolved: Resolved) -> list[int]:
        """The seeds its runs train with in budget ``resolved``."""
        section = resolved
        for key in (self.seeds_key or "").split(".") if self.seeds_key else ():
            section = section[key]
        return list(section["seeds"])

    def job_threads(self, resolved: Resolved) -> int:
        """Torch threads of one job (the budget's own where the family does not fix them)."""
        return int(resolved["threads"] if self.threads is None else self.threads)

    def device(self, resolved: Resolved) -> str:
        """The device its runs train on."""
        return resolved["device"] if self.on_device else "cpu"


def solver_section(resolved: Resolved) -> dict[str, str]:
    """The budget's ``solver`` section: the ``backend`` and ``adjoint_norm`` keys every ODE
    run's config carries (:func:`odebench.core.solving.solver_keys` reads them back)."""
    return dict(resolved.get("solver") or DEFAULT_SOLVER)
