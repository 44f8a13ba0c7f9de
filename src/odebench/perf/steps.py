"""How much faster is each precision path's MNIST training step than plain float32, here?

For every Table 1 arm of a budget, times the training loop's own step
(:meth:`odebench.mnist.train.Trainer.train_step`: NFE counting and all) under each path
of :data:`odebench.mnist.precision.PRECISIONS`, with the same initial weights and the
same batches, the paths alternated step by step so that machine noise hits all alike.
Prints, per arm and path, the median seconds per step, its ratio to ``fp32`` measured
in this same run, and the median forward and backward NFE (a precision that rounds the
dynamics can change the solver's steps). The budget's own path (``mnist.precision``) is
marked: the ratio a run of that budget gets on this machine.

    python -m odebench.perf.steps --budget cpu --steps 5 --threads 2
    python -m odebench.perf.steps --arms resnet odenet-tol0.001 --paths fp32 bf16_conv

Ratios are this machine's: bfloat16 pays on CPUs with AMX or AVX-512 BF16 and is
emulated, slower, on AVX2-only ones. Timed things must not run side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from odebench.mnist.arms import CROP_PADDING
from odebench.mnist.family import arm_name, mnist_arms, mnist_run, parse_arm
from odebench.mnist.precision import DEFAULT, PRECISIONS, precision
from odebench.mnist.train import Trainer, random_crop
from odebench.pipeline import config as configuration


def time_steps(run: dict, paths: Sequence[str], steps: int, warmup: int = 1) -> dict[str, dict]:
    """Median seconds per training step and median NFE for each of ``paths`` on one arm.

    Every path's trainer starts from the same weights (the run's seed) and takes the same
    batches; the order of the paths alternates from one step to the next.
    """
    trainers = {
        name: Trainer(run | {"precision": name}, Path(tempfile.mkdtemp(prefix="odebench-steps-")))
        for name in paths
    }
    first = next(iter(trainers.values()))
    generator = torch.Generator().manual_seed(0)
    crop = int(run.get("crop_padding", CROP_PADDING))
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    nfes: dict[str, list[tuple[int, int]]] = {name: [] for name in paths}
    for step in range(warmup + steps):
        idx = torch.randint(0, len(first.x_train), (run["batch_size"],), generator=generator)
        batch = random_crop(first.x_train[idx], crop, generator), first.y_train[idx]
        for name in paths if step % 2 == 0 else paths[::-1]:
            trainer = trainers[name]
            with trainer.precision.step():
                start = time.perf_counter()
                _, forward, backward = trainer.train_step(batch)
                took = time.perf_counter() - start
            if step >= warmup:
                seconds[name].append(took)
                nfes[name].append((forward, backward))
    return {
        name: {
            "seconds": statistics.median(seconds[name]),
            "nfe_forward": statistics.median(f for f, _ in nfes[name]),
            "nfe_backward": statistics.median(b for _, b in nfes[name]),
        }
        for name in paths
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.perf.steps", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--budget", default="cpu")
    parser.add_argument("--arms", nargs="+", help="arms as in results (resnet, odenet-tol0.001, "
                        "...); default: every Table 1 arm of the budget")  # fmt: skip
    parser.add_argument("--paths", nargs="+", default=list(PRECISIONS), help="precision paths")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per path (medians)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", help="prepared MNIST .npz (default: the config's data.mnist_npz)")
    args = parser.parse_args(argv)
    for name in args.paths:
        precision(name)  # an unknown path fails before anything is timed
    paths = [DEFAULT, *[p for p in args.paths if p != DEFAULT]]
    torch.set_num_threads(args.threads)
    resolved = configuration.resolve(configuration.load(overrides={"budget": args.budget}))
    arms = [parse_arm(a) for a in args.arms] if args.arms else [
        (arm["model"], arm["tol"]) for arm in mnist_arms(resolved)
    ]  # fmt: skip
    chosen = resolved["mnist"]["precision"]
    cpu = torch.backends.cpu.get_cpu_capability()
    print(f"budget {args.budget}, batch {resolved['mnist']['batch_size']}, cpu capability {cpu}, "
          f"{args.threads} threads, median of {args.steps} steps, torch {torch.__version__}; "
          f"* = the budget's path ({chosen})", flush=True)  # fmt: skip
    for model, tol in arms:
        run = mnist_run(resolved, model, 0, tol) | {"device": "cpu"}
        if args.data:
            run["data"] = args.data
        timed = time_steps(run, paths, args.steps)
        base = timed[DEFAULT]["seconds"]
        for name, row in timed.items():
            mark = "*" if name == chosen else " "
            print(f"{mark} {arm_name(model, tol):<16} {name:<14} {1000 * row['seconds']:8.1f} ms  "
                  f"ratio {row['seconds'] / base:5.2f}  NFE forward {row['nfe_forward']:g} "
                  f"backward {row['nfe_backward']:g}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
