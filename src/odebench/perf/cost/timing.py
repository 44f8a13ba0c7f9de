"""Timing tools: wall seconds of a call (synchronized on cuda), the median of training
steps, linear extrapolation from two reduced sizes, a job's process start-up, the
share of the CPUs busy with other work, and the name of the device timed on.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from odebench.perf.cost.jobs import Arm

#: What the start-up of one job's process imports.
STARTUP_IMPORTS = ("odebench.mnist.train", "odebench.mnist.probe", "odebench.spirals.train",
                   "odebench.cnf.train", "odebench.cnf.trace")  # fmt: skip


def _sync(device: Any) -> None:
    import torch

    if getattr(device, "type", device) == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: Any = "cpu") -> float:
    """Wall seconds of ``fn()`` (synchronized on cuda)."""
    _sync(device)
    started = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - started


def median_step(step: Callable[[int], Any], steps: int, device: Any = "cpu") -> float:
    """Median seconds of ``step(1..steps)`` after the warm-up ``step(0)``."""
    step(0)
    return statistics.median(timed(lambda i=i: step(i), device) for i in range(1, steps + 1))


def time_train_steps(arm: Arm, step: Callable[[int], Any], steps: int, device: Any) -> None:
    """``arm``'s seconds per step and NFE per step (medians of ``steps`` after one warm-up)
    from ``step(i)``, a :meth:`IterativeTrainer.train_step` returning (loss, forward NFE,
    backward NFE)."""
    nfes: list[int] = []

    def counted(i: int) -> None:
        _, forward, backward = step(i)
        if i:
            nfes.append(forward + backward)

    arm.seconds_per_step = median_step(counted, steps, device)
    arm.nfe_per_step = statistics.median(nfes)


def extrapolate(measure: Callable[[int], float], full: int, low: int, high: int) -> float:
    """Seconds at size ``full`` from ``measure`` at two smaller sizes: fixed + per item.

    Measured directly when ``full <= high``. The per-item slope is kept >= 0 (noise).
    """
    if full <= high:
        return measure(full)
    t_low, t_high = measure(low), measure(high)
    slope = max(0.0, (t_high - t_low) / (high - low))
    return t_high + slope * (full - high)


def startup_seconds() -> float:
    """Wall seconds of a fresh Python that imports the entry points (one job's start-up)."""
    code = "import " + ", ".join(STARTUP_IMPORTS)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def other_cpu_use(seconds: float = 0.5) -> float | None:
    """Share of the machine's CPU time that others used over ``seconds`` while this
    process slept (from /proc/stat; None where there is none): a busy machine inflates
    every timing."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def device_name(device: Any) -> str:
    import torch

    if getattr(device, "type", device) == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
