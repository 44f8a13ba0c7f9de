"""Measuring one arm of each family, in place: its steps per run, seconds per step,
NFE per step, evaluation passes, or (for studies) the whole job from reduced measurements.

:data:`COSTERS` maps each family to the function that measures its arms on a real
trainer (or study) built from the arm's first run config in a temporary directory.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from odebench.perf.cost.jobs import Arm
from odebench.perf.cost.table import _num
from odebench.perf.cost.timing import extrapolate, time_train_steps, timed

#: Reduced sizes at which a probe's parts are timed (images of the sweep, of the
#: reversibility batch, of the per-image backward NFE), low and high.
PROBE_SIZES = {"images": (16, 64), "reversibility_images": (8, 32), "backward_images": (1, 2)}


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
    time_train_steps(arm, lambda i: trainer.train_step(trainer.batch(i + 1)), steps, device)
    validations = arm.steps_per_run // trainer.eval_every
    t_val = timed(lambda: trainer.task.validation_loss(trainer.model), device)
    arm.eval_seconds_per_run = validations * t_val + timed(trainer.evaluate, device)
    arm.note = f"batch {arm.config['batch_size']}, {arm.config['optimizer']}"


def _cost_probe(arm: Arm, steps: int, device: Any, tmp: Path, resolved: dict) -> None:
    import torch

    from odebench.mnist.data import load_mnist
    from odebench.mnist.family import mnist_run, parse_arm
    from odebench.mnist.models import build_model
    from odebench.mnist.probe import RUN_KEYS, Probe

    config = arm.config
    model_arm = Path(config["train_dir"]).parent.name
    _, tol = parse_arm(model_arm)
    mnist = mnist_run(resolved, "odenet", int(config["seed"]), tol)
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
