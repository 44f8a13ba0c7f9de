"""The price of a budget: measure every arm (:func:`price`) and gather the numbers that
the table prints and ``--json`` writes (:func:`cost`).
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from odebench.perf.cost.jobs import (
    FAMILIES,
    Arm,
    CostError,
    check_data,
    enumerate_arms,
    load_config,
    recorded,
)
from odebench.perf.cost.measure import COSTERS
from odebench.perf.cost.packing import totals
from odebench.perf.cost.timing import device_name, other_cpu_use, startup_seconds
from odebench.pipeline import config as configuration
from odebench.pipeline.plan import Plan

EXCLUDED = (
    "data preparation (MNIST download and conversion, spirals generation)",
    "table, figure, claims and report rules (seconds each)",
    "checkpoint writes, Snakemake's scheduling, contention between jobs run side by side",
)


def price(plan: Plan, arms: Sequence[Arm], steps: int, cores: int,
          progress: Callable[[str], None] | None = None) -> float:  # fmt: skip
    """Measure every arm in place (its timings, steps and notes); returns the start-up seconds.

    Each arm is timed with the threads its jobs get (its rule's, at most ``cores``),
    on its device, in a temporary directory; a failure leaves the arm ``failed``.
    """
    import torch

    from odebench.core.backends import StepBudgetExceeded
    from odebench.core.run import resolve_device
    from odebench.core.status import RunStopped
    from odebench.spirals.data import RUN_KEYS, write_spirals
    from odebench.spirals.family import spirals_data_run

    startup = startup_seconds()
    threads_before = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="odebench-cost-") as tmp:
        tmp_dir = Path(tmp)
        spirals_data = tmp_dir / "spirals.npz"
        if any(arm.family == "spirals" for arm in arms):
            spec = spirals_data_run(plan.run)
            write_spirals(spirals_data, {k: v for k, v in spec.items() if k not in RUN_KEYS})
        for index, arm in enumerate(arms):
            arm.threads = max(1, min(arm.threads, cores))
            arm.startup_seconds_per_run = startup
            arm.recorded_seconds, arm.recorded_nfe = recorded(arm.run_dirs)
            arm.config = dict(arm.config, device=arm.device)
            if arm.family == "spirals":
                arm.config["data"] = str(spirals_data)
            if progress:
                progress(f"[{index + 1}/{len(arms)}] {arm.family} {arm.arm}")
            torch.set_num_threads(arm.threads)
            torch.manual_seed(0)
            out = tmp_dir / f"arm{index}"
            out.mkdir()
            try:
                COSTERS[arm.family](arm, steps, resolve_device(arm.device), out, plan.run)
            except (RunStopped, StepBudgetExceeded, RuntimeError, ValueError) as err:
                arm.failed = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
            finally:
                torch.set_num_threads(threads_before)
    return startup


def cost(
    budget: str | None = None,
    *,
    configfile: Path = configuration.DEFAULT_CONFIG,
    device: str | None = None,
    threads: int | None = None,
    steps: int = 3,
    cores: int | None = None,
    families: Sequence[str] = FAMILIES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Price ``budget``: measure every arm and return the numbers (what ``--json`` writes)."""
    if steps < 1:
        raise CostError(f"--steps must be at least 1, got {steps}")
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise CostError(f"unknown family {unknown[0]!r}; known: {', '.join(FAMILIES)}")
    if device is not None and device not in ("cpu", "cuda", "auto"):
        raise CostError(f"unknown device {device!r}; known: cpu, cuda, auto")
    config = load_config(budget, configfile, device, threads)
    import torch

    if config["device"] == "auto":
        config["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    if config["device"] == "cuda" and not torch.cuda.is_available():
        raise CostError("device cuda requested but not available")
    plan = Plan(config)
    check_data(plan, families)
    if cores is not None and cores < 1:
        raise CostError(f"--cores must be at least 1, got {cores}")
    if threads is not None and threads < 1:
        raise CostError(f"--threads must be at least 1, got {threads}")
    cores = cores or os.cpu_count() or 1
    arms = enumerate_arms(plan, [f for f in FAMILIES if f in families])
    busy_before = other_cpu_use()
    startup = price(plan, arms, steps, cores, progress)
    records = [arm.record() for arm in arms]
    return {
        "budget": plan.budget,
        "configfile": str(configfile),
        "device": config["device"],
        "device_name": device_name(config["device"]),
        "torch": torch.__version__,
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "threads": int(plan.run["threads"]),
        "cores": cores,
        "steps": steps,
        "startup_seconds": startup,
        "other_cpu_use": [busy_before, other_cpu_use()],
        "arms": records,
        "totals": totals(arms, cores),
        "not_costed": [
            {"family": a.family, "arm": a.arm, "reason": a.failed} for a in arms if a.failed
        ],  # fmt: skip
        "excluded": list(EXCLUDED),
    }
