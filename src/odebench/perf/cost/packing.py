"""The budget's totals over its arms: the sequential device-hours and, on the CPU, the
makespan of the jobs packed onto the cores (:func:`pack`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from odebench.perf.cost.jobs import Arm

TOTAL_KEYS = ("jobs", "sequential_hours", "packed_hours", "packed_cores", "packed_jobs",
              "longest_job_hours", "device_hours", "gpu_estimate_hours",
              "not_costed_jobs")  # fmt: skip


def pack(jobs: Sequence[tuple[float, int]], cores: int) -> float:
    """Makespan of ``jobs`` (seconds, threads) on ``cores`` cores, longest first.

    Each job takes ``min(threads, cores)`` cores (as Snakemake caps threads at
    ``--cores``) and starts when that many cores are free: those that free up
    earliest. With every job at ``t`` threads this is ``cores // t`` slots. The
    result is at least the longest job and at most the sum of all.
    """
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    free = [0.0] * cores
    for seconds, threads in sorted(jobs, key=lambda job: -job[0]):
        width = max(1, min(int(threads), cores))
        chosen = sorted(range(cores), key=lambda core: free[core])[:width]
        start = max(free[core] for core in chosen)
        for core in chosen:
            free[core] = start + seconds
    return max(free, default=0.0)


def totals(arms: Sequence[Arm], cores: int) -> dict[str, Any]:
    """The budget's totals (:data:`TOTAL_KEYS`) over the arms that could be costed.

    On a GPU, only the jobs that run on the CPU (every family outside GPU_FAMILIES)
    are packed onto the cores, and the GPU estimate is the GPU jobs' sum.
    """
    jobs = [(arm.seconds_per_run, arm.threads, arm.device) for arm in arms
            for _ in range(arm.runs) if arm.seconds_per_run is not None]  # fmt: skip
    device_hours: dict[str, float] = {}
    for seconds, _, device in jobs:
        device_hours[device] = device_hours.get(device, 0.0) + seconds / 3600
    gpu = "cuda" in device_hours
    cpu_jobs = [(seconds, threads) for seconds, threads, device in jobs if device == "cpu"]
    return {
        "jobs": len(jobs),
        "sequential_hours": sum(seconds for seconds, _, _ in jobs) / 3600,
        "packed_hours": pack(cpu_jobs, cores) / 3600,
        "packed_cores": cores,
        "packed_jobs": "cpu" if gpu else "all",
        "longest_job_hours": max((s for s, _ in cpu_jobs), default=0.0) / 3600,
        "device_hours": device_hours,
        "gpu_estimate_hours": device_hours["cuda"] if gpu else None,
        "not_costed_jobs": sum(arm.runs for arm in arms if arm.seconds_per_run is None),
    }
