"""The price of a budget: how many device-hours its training runs and studies take here.

For one budget, every job the pipeline runs for it comes from
:class:`~odebench.pipeline.plan.Plan` (its run directories per family, each with the
complete run config the rule would hand over) plus the one memory-scaling job. Jobs
whose cost per step is the same (they differ only in seed, or in a setting that does
not change a step's work) form an *arm*, and each arm is measured once, on this
machine, from a real trainer built from the run's own config in a temporary
directory:

- training runs (``mnist``, ``spirals``, ``cnf_density``, ``cnf_likelihood``): the median
  wall time of K training steps (:meth:`IterativeTrainer.train_step` on the trainer's
  own batches) after one warm-up step, times the steps the trainer runs
  (:meth:`IterativeTrainer.total_iterations`: epochs x ceil(training images / batch)
  for MNIST, ``iterations`` for the others), plus the evaluation passes, each timed
  once: MNIST's validation after every epoch and the final test pass, the spirals'
  validation every ``eval_every`` iterations and the test pass, the CNFs' final
  evaluation (samples, test points, the density grid and Figure 5's frames);
- probes of trained ODE-Nets (``probe``), on a freshly initialized ODE-Net: every part
  of the probe (solver sweep with its float64 reference solve, reversibility, per-image
  backward NFE) timed at two reduced sizes and extrapolated linearly in the number of
  images (time = fixed + per image x images; the NFE of a batch solve does not depend
  on its size);
- FFJORD's trace study (``cnf_trace``): per (D, estimator) case one log-density solve
  and one training step, times the solves and steps the study makes;
- memory scaling: every (method, depth) step timed in this process, plus the start-up
  of the fresh process each case gets (one such start measured).

Every job also pays the start-up of its own Python process (measured once: importing
the entry points). Costs are per job; the totals are the sum (one job after another,
the device-hours) and, on the CPU, the makespan when ``--cores`` cores run the jobs
side by side: each job takes the threads its rule asks for (``threads`` for MNIST
training and probes, 1 for the rest), jobs are placed longest first on the cores that
free up earliest, and each runs at its measured speed (so contention between jobs is
not modeled). On a GPU, packing jobs onto one device is not modeled: the sequential
sum is the GPU estimate. Probes, the trace study and memory scaling run on the CPU
whatever the device (as in the pipeline) and are timed there.

Not measured: data preparation (the MNIST download, the spirals generator: seconds),
the table, figure, claims and report rules (seconds each), checkpoint writes and
Snakemake's own scheduling. Per-step costs are those of freshly initialized models:
the NFE of an adaptive solve changes over training (Fig. 3d; a CNF's grows several
fold), so ODE arms can cost more (or less) per step later on. The table shows each
arm's NFE per step as timed, and where the budget's own runs exist under
``results/<budget>/runs`` (else the committed ``reference/<budget>/runs``), their NFE
late in training ("NFE/rec.") and their recorded ``wall_seconds`` ("rec. h"; without
process start-up) beside the estimate. The share of the CPUs busy with other work just
before and after timing is shown too: a busy machine inflates every timing.

    python -m odebench.perf.cost --budget paper [--device cpu|cuda|auto] [--threads N]
        [--steps K] [--cores N] [--family mnist ...] [--json PATH] [--quiet]

``--json PATH`` writes the same numbers: ``budget``, ``configfile``, ``device``,
``device_name``, ``torch``, ``date_utc``, ``threads``, ``cores``, ``steps``,
``startup_seconds``, ``other_cpu_use`` (the share of the CPUs busy with other work just
before and just after timing, None where unknown), ``arms``
(one object per arm: :data:`ARM_KEYS`), ``totals`` (:data:`TOTAL_KEYS`), ``not_costed``
(``family``, ``arm``, ``reason``) and ``excluded`` (what no estimate includes).
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from odebench.core import paths
from odebench.pipeline import config as configuration
from odebench.pipeline.plan import Plan
from odebench.products import registry

PROG = "python -m odebench.perf.cost"

#: Families in the order the table lists them; ``memory_scaling`` is the one job the
#: plan does not list by run directory (its rule writes a table).
FAMILIES = ("mnist", "probe", "spirals", "cnf_density", "cnf_likelihood", "cnf_trace",
            "memory_scaling")  # fmt: skip
#: Families whose runs train on the config's device; the others run on the CPU always.
DEVICE_FAMILIES = tuple(f for f in FAMILIES if f in configuration.GPU_FAMILIES)
#: Family -> (its Snakemake rule, the threads that rule asks for; None = the resolved ``threads``).
#: tests/perf/test_cost.py checks this against workflow/rules/*.smk.
RULES: dict[str, tuple[str, int | None]] = {
    "mnist": ("train_mnist", None),
    "probe": ("probe_odenet", None),
    "spirals": ("train_spirals", 1),
    "cnf_density": ("train_density", 1),
    "cnf_likelihood": ("train_likelihood", 1),
    "cnf_trace": ("trace_study", 1),
    "memory_scaling": ("memory_scaling", 1),
}
#: Spirals models without parameters: nothing to train (one validation and a test pass).
SPIRALS_REFERENCES = ("hold_last", "linear")
#: Reduced sizes at which a probe's parts are timed (images of the sweep, of the
#: reversibility batch, of the per-image backward NFE), low and high.
PROBE_SIZES = {"images": (16, 64), "reversibility_images": (8, 32), "backward_images": (1, 2)}
#: What the start-up of one job's process imports.
STARTUP_IMPORTS = ("odebench.mnist.train", "odebench.mnist.probe", "odebench.spirals.train",
                   "odebench.cnf.train", "odebench.cnf.trace")  # fmt: skip

ARM_KEYS = ("family", "arm", "runs", "run_dirs", "device", "threads", "steps_per_run",
            "seconds_per_step", "nfe_per_step", "eval_seconds_per_run", "study_seconds_per_run",
            "startup_seconds_per_run", "seconds_per_run", "hours", "recorded_hours",
            "recorded_runs", "recorded_nfe_per_step", "note")  # fmt: skip
TOTAL_KEYS = ("jobs", "sequential_hours", "packed_hours", "packed_cores", "packed_jobs",
              "longest_job_hours", "device_hours", "gpu_estimate_hours",
              "not_costed_jobs")  # fmt: skip
EXCLUDED = (
    "data preparation (MNIST download and conversion, spirals generation)",
    "table, figure, claims and report rules (seconds each)",
    "checkpoint writes, Snakemake's scheduling, contention between jobs run side by side",
)


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
        name = paths.arm_name(config["model"], config["tol"])
        return name, name
    if family == "probe":
        return "probe", "fresh odenet, for every tol"
    if family == "spirals":
        if config["model"] in SPIRALS_REFERENCES:
            return "references", f"{', '.join(SPIRALS_REFERENCES)}: untrained"
        name = paths.spirals_arm(config["model"], config["n_obs"])
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


# -- packing -------------------------------------------------------------------------------


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


# -- measuring (torch from here on) ----------------------------------------------------------


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


def _cost_mnist(arm: Arm, steps: int, device: Any, tmp: Path, resolved: dict) -> None:
    from odebench.mnist.train import Trainer, evaluate

    trainer = Trainer(arm.config, tmp, device)
    arm.steps_per_run = trainer.total_iterations()
    trainer.start_epoch(1)
    length = trainer.epoch_length

    def step(i: int) -> tuple[float, int, int]:
        return trainer.train_step(trainer.batch(i % length + 1))

    time_train_steps(arm, step, steps, device)
    size = min(int(arm.config["eval_batch_size"]), len(trainer.x_val))
    x, y = trainer.x_val[:size], trainer.y_val[:size]
    if getattr(device, "type", device) == "cuda":
        evaluate(trainer.model, x, y, size)  # warm-up of the new batch shape
    per_image = timed(lambda: evaluate(trainer.model, x, y, size), device) / size
    images = int(arm.config["epochs"]) * len(trainer.x_val) + len(trainer.x_test)
    arm.eval_seconds_per_run = per_image * images
    arm.note = (f"{len(trainer.x_train)} images / batch {arm.config['batch_size']} x "
                f"{arm.config['epochs']} epochs; eval {images} images")  # fmt: skip


def _cost_spirals(arm: Arm, steps: int, device: Any, tmp: Path, resolved: dict) -> None:
    from odebench.spirals.train import EVAL_EVERY, SequenceTrainer

    trainer = SequenceTrainer(arm.config, tmp, device)
    if not trainer.trainable:  # a reference: one validation and the test pass
        arm.steps_per_run = 0
        arm.study_seconds_per_run = timed(trainer.fit, device) + timed(trainer.evaluate, device)
        arm.note = "validation and test pass only"
        return
    total = trainer.total_iterations()
    arm.steps_per_run = total
    time_train_steps(arm, lambda i: trainer.train_step(None), steps, device)
    every = int(arm.config.get("eval_every", EVAL_EVERY))
    validations = total // every + (1 if total % every else 0) if trainer.val is not None else 0
    t_val = timed(trainer.validation_loss, device) if validations else 0.0
    arm.eval_seconds_per_run = validations * t_val + timed(trainer.evaluate, device)
    arm.note = f"full batch of {len(trainer.train)}; {validations} validations"


def _cost_cnf(arm: Arm, steps: int, device: Any, tmp: Path, resolved: dict) -> None:
    from odebench.cnf.train import FlowTrainer

    trainer = FlowTrainer(arm.config, tmp, device)
    arm.steps_per_run = trainer.total_iterations()
    time_train_steps(arm, lambda i: trainer.train_step(None), steps, device)
    arm.eval_seconds_per_run = timed(trainer.evaluate, device)
    arm.note = f"batch {arm.config['batch_size']}, {arm.config['optimizer']}"


def _cost_probe(arm: Arm, steps: int, device: Any, tmp: Path, resolved: dict) -> None:
    import torch

    from odebench.core import paths as pipeline_paths
    from odebench.mnist.data import load_mnist
    from odebench.mnist.models import build_model
    from odebench.mnist.probe import RUN_KEYS, Probe

    config = arm.config
    model_arm = Path(config["train_dir"]).parent.name
    _, tol = pipeline_paths.parse_arm(model_arm)
    mnist = configuration.mnist_run(resolved, "odenet", int(config["seed"]), tol)
    data = load_mnist(Path(mnist["data"]))
    torch.manual_seed(int(config["seed"]))
    model = build_model("odenet", mnist).eval()
    spec = {k: v for k, v in config.items() if k not in RUN_KEYS}
    probe = Probe(model, spec)
    x, y = data["x_test"], data["y_test"]
    xb, yb = data["x_train"], data["y_train"]
    with torch.no_grad():
        model(x[:8])  # warm-up
    parts = {
        "images": lambda n: timed(lambda: probe.sweep(x[:n], y[:n])),
        "reversibility_images": lambda n: timed(lambda: probe.reversibility(x[:n], y[:n])),
        "backward_images": lambda n: timed(lambda: probe.backward_nfe(xb[:n], yb[:n], tol)),
    }
    seconds = {}
    for key, measure in parts.items():
        full = int(spec[key])
        if key == "backward_images":  # one image at a time: exactly linear
            low = min(full, PROBE_SIZES[key][1])
            seconds[key] = measure(low) * full / low if low else 0.0
        else:
            seconds[key] = extrapolate(measure, full, *PROBE_SIZES[key])
    arm.study_seconds_per_run = sum(seconds.values())
    arm.note = (f"fresh weights; sweep {_num(seconds['images'])} s, reversibility "
                f"{_num(seconds['reversibility_images'])} s, backward NFE "
                f"{_num(seconds['backward_images'])} s; each timed at two sizes of at most "
                f"{PROBE_SIZES['images'][1]} images and extrapolated linearly")  # fmt: skip


def _trace_case(model: Any, x: Any) -> tuple[float, float]:
    """Seconds of one log-density solve without gradients and of one Adam training step."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def solve() -> None:
        with torch.no_grad():
            model.log_prob(x)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        (-model.log_prob(x).mean()).backward()
        optimizer.step()

    return timed(solve), timed(train_step)


def _cost_trace(arm: Arm, steps: int, device: Any, tmp: Path, resolved: dict) -> None:
    import torch

    from odebench.cnf.trace import study_model, trace_data
    from odebench.core.backends import StepBudgetExceeded

    spec = arm.config
    seed = int(spec["seed"])
    total, exhausted = 0.0, 0
    cases = len(spec["dims"]) * len(spec["estimators"])
    for dim in map(int, spec["dims"]):
        x = trace_data(dim, int(spec["batch_size"]), seed)
        for estimator in spec["estimators"]:
            torch.manual_seed(seed)
            model = study_model(spec, dim, estimator)
            draws = 2 if estimator == "exact" else int(spec["noise_draws"])
            started = time.perf_counter()
            try:
                t_solve, t_step = _trace_case(model, x)
            except StepBudgetExceeded:  # the study stops this case here too
                total += time.perf_counter() - started
                exhausted += 1
                continue
            total += draws * t_solve + (int(spec["steps"]) + 1) * t_step
    arm.study_seconds_per_run = total
    arm.note = (f"one solve and one training step per (D, estimator) case, scaled to the "
                f"study's; {exhausted} of {cases} cases exhaust their step budget")  # fmt: skip


def _cost_memory(arm: Arm, steps: int, device: Any, tmp: Path, resolved: dict) -> None:
    from odebench.mnist import memory_scaling

    spec = arm.config
    cases = [(m, int(d), int(spec["batch_size"])) for m in memory_scaling.METHODS
             for d in spec["depths"]]  # fmt: skip
    inside = sum(timed(lambda case=case: memory_scaling.measure(*case)) for case in cases)
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with context.Pool(1, maxtasksperchild=1) as pool:
        pool.apply(memory_scaling._measure_in_child, (cases[0],))
    spawn = time.perf_counter() - started
    arm.study_seconds_per_run = inside + len(cases) * spawn
    arm.note = f"{len(cases)} cases, each in a fresh process ({spawn:.1f} s each)"


#: Family -> function(arm, steps, device, temporary directory, resolved config) that
#: measures the arm in place.
COSTERS: dict[str, Callable[[Arm, int, Any, Path, dict], None]] = {
    "mnist": _cost_mnist,
    "probe": _cost_probe,
    "spirals": _cost_spirals,
    "cnf_density": _cost_cnf,
    "cnf_likelihood": _cost_cnf,
    "cnf_trace": _cost_trace,
    "memory_scaling": _cost_memory,
}


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

    startup = startup_seconds()
    threads_before = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="odebench-cost-") as tmp:
        tmp_dir = Path(tmp)
        spirals_data = tmp_dir / "spirals.npz"
        if any(arm.family == "spirals" for arm in arms):
            spec = configuration.spirals_data_run(plan.run)
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


# -- the report ----------------------------------------------------------------------------


def _num(value: float | None) -> str:
    """Seconds in a narrow column: 3 significant digits below 100, whole seconds above."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def _hours(value: float | None) -> str:
    """Hours: 2 decimals from 0.1 h up, 3 significant digits below."""
    if value is None:
        return "-"
    return f"{value:.2f}" if value >= 0.1 or value == 0 else f"{value:.3g}"


#: Columns of the table: (title, width, cell of an arm record).
COLUMNS: tuple[tuple[str, int, Callable[[Mapping[str, Any]], str]], ...] = (
    ("family", -14, lambda a: a["family"]),
    ("arm", -28, lambda a: a["arm"][:28]),
    ("on", -5, lambda a: f"{a['device']}{a['threads']}"),
    ("runs", 4, lambda a: str(a["runs"])),
    ("steps/run", 9, lambda a: "-" if a["steps_per_run"] is None else f"{a['steps_per_run']:,}"),
    ("s/step", 8, lambda a: _num(a["seconds_per_step"])),
    ("NFE/rec.", 9, lambda a: _nfe(a["nfe_per_step"], a["recorded_nfe_per_step"])),
    ("eval s", 8, lambda a: _num(a["eval_seconds_per_run"])),
    ("s/run", 8, lambda a: _num(a["seconds_per_run"])),
    ("h", 8, lambda a: _hours(a["hours"])),
    ("rec. h", 9, lambda a: _hours(a["recorded_hours"])
     + ("*" if 0 < a["recorded_runs"] < a["runs"] else "")),
)  # fmt: skip


def _nfe(value: float | None, recorded: float | None) -> str:
    """NFE per step at initialization, and as recorded late in training where known."""
    if not value and not recorded:
        return "-"
    return f"{value or 0:.0f}" + ("" if recorded is None else f"/{recorded:.0f}")


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{100 * value:.0f}%"


def _row(cells: Sequence[str]) -> str:
    """One line of the table: left-aligned text columns, right-aligned numbers, one space apart."""
    return " ".join(f"{cell:<{-w}}" if w < 0 else f"{cell:>{w}}"
                    for cell, (_, w, _) in zip(cells, COLUMNS, strict=True))  # fmt: skip


def report(result: Mapping[str, Any]) -> str:
    """The one-screen text of a :func:`cost` result."""
    total = result["totals"]
    busy = result["other_cpu_use"]
    known = [share for share in busy if share is not None]
    steps = result["steps"]
    lines = [
        f"The price of budget {result['budget']!r} ({result['configfile']}), {result['date_utc']}",
        f"device {result['device']}: {result['device_name']}; torch {result['torch']}; "
        f"{os.cpu_count()} CPUs, of which busy with other work just before timing "
        f"{_share(busy[0])}, just after {_share(busy[1])}"
        + (" (a busy machine inflates these timings)" if max(known, default=0) > 0.2 else ""),
        f"an arm: jobs with the same cost per step, timed once: median of {steps} training "
        f"step{'s' * (steps > 1)} after 1 warm-up (s/step) x steps per run, + evaluation "
        f"passes (eval s) + {result['startup_seconds']:.1f} s process start-up = s/run; "
        f"on: device and threads (the rule's: {result['threads']} for MNIST and probes, "
        "1 for the rest)",
        "",
    ]  # fmt: skip
    header = _row([title for title, _, _ in COLUMNS])
    lines += [header, "-" * len(header)]
    lines += [_row([cell(arm) for _, _, cell in COLUMNS]) for arm in result["arms"]]
    lines.append("-" * len(header))
    by_device = ", ".join(f"{_hours(hours)} {device.upper()}-hours"
                          for device, hours in total["device_hours"].items())  # fmt: skip
    lines.append(f"one after another: {_hours(total['sequential_hours'])} h over "
                 f"{total['jobs']} jobs (device-hours: {by_device or '0'})")  # fmt: skip
    if total["gpu_estimate_hours"] is not None:
        lines.append(f"GPU estimate: {_hours(total['gpu_estimate_hours'])} h, the GPU jobs one "
                     "after another (packing jobs onto one GPU is not modeled)")  # fmt: skip
        scope = "the jobs that run on the CPU"
    else:
        scope = "every job"
    lines.append(f"packed on {total['packed_cores']} cores: {_hours(total['packed_hours'])} h for "
                 f"{scope} (longest job {_hours(total['longest_job_hours'])} h; longest first, "
                 "each job at its measured speed)")  # fmt: skip
    for item in result["not_costed"]:
        lines.append(f"NOT COSTED: {item['family']} {item['arm']}: {item['reason']}")
    studies = [arm for arm in result["arms"] if arm["steps_per_run"] is None and arm["note"]]
    if studies:
        lines.append("studies, from reduced measurements:")
        lines += [f"  {arm['family']}: {arm['note']}" for arm in studies]
    lines.append("excluded: " + "; ".join(result["excluded"]))
    lines.append(
        "caveat: steps of freshly initialized models; an adaptive solver's NFE changes over "
        "training, so ODE arms cost more (or less) per step later on. NFE/rec.: function "
        "evaluations per step here / late in the recorded runs; rec. h: their wall_seconds "
        f"(results/{result['budget']}/runs, else reference/{result['budget']}/runs; "
        "* = some runs)"
    )
    return "\n".join(_wrap(line, len(header)) for line in lines)


def _wrap(line: str, width: int) -> str:
    """``line`` folded to ``width`` (continuation lines indented); table rows fit already."""
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return "\n".join(textwrap.wrap(line, width, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False))  # fmt: skip


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--budget", help="smoke | cpu | paper (default: config.yaml's)")
    parser.add_argument("--configfile", type=Path, default=configuration.DEFAULT_CONFIG)
    parser.add_argument("--device", help="cpu | cuda | auto (default: config.yaml's)")
    parser.add_argument("--threads", type=int, help="threads of a MNIST or probe job "
                        "(default: config.yaml's)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=3, help="timed steps per arm (default 3)")
    parser.add_argument("--cores", type=int, help="cores to pack jobs onto (default: this "
                        "machine's)")  # fmt: skip
    parser.add_argument("--family", action="append", choices=FAMILIES,
                        help="cost only this family (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        result = cost(args.budget, configfile=args.configfile, device=args.device,
                      threads=args.threads, steps=args.steps, cores=args.cores,
                      families=args.family or FAMILIES, progress=progress)  # fmt: skip
    except (CostError, configuration.ConfigError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    print(report(result))
    if args.json:
        from odebench.core import artifacts

        artifacts.write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
