"""Memory against depth: the empirical check of Table 1's O(1) / O(L~) / O(L) column.

One training step (forward, cross-entropy, backward) of the part of the MNIST
networks whose depth varies — the residual blocks or the ODE block — followed by
the shared head, on stem-sized features (batch x 64 x 7 x 7). The stem is the same
in every network and left out, so the bytes are the depth-dependent ones.

Depth means:

- ``adjoint`` / ``direct``: the number of rk4 steps of the ODE block (NFE = 4 x depth),
  gradients by the adjoint method or by backpropagating through the solver;
- ``resnet``: the number of residual blocks L.

Each case runs in a fresh process, so that its peak RSS is its own (the kernel's
peak RSS never goes down within a process). The processes fork from a server that has
imported torch and this module's imports once (multiprocessing's forkserver, preloaded), so a case
costs its step, not the 5 s of starting Python and importing torch again.

The study trains nothing and writes one table, not a run directory; its run
config is the budget's ``solver_studies.memory`` settings plus ``family`` and
``budget``. Entry point::

    python -m odebench.mnist.memory_scaling --out CSV \\
        --run-config '{"family": "memory_scaling", "budget": "smoke",
                       "batch_size": 32, "depths": [1, 2, 4]}'
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from odebench.core import artifacts
from odebench.core.cli import run_main
from odebench.core.measuring import SavedTensorMeter, current_rss_bytes, peak_rss_bytes
from odebench.core.solving import ODEBlock, total_nfe
from odebench.mnist.models import CHANNELS, ConvDynamics, ResBlock, head

log = logging.getLogger(__name__)

FIELDS = (
    "method", "depth", "nfe", "batch_size", "activation_bytes", "peak_rss_bytes",
    "rss_before_step_bytes", "seconds",
)  # fmt: skip


def _ode_block(gradient: str) -> Callable[[int], nn.Module]:
    def build(depth: int) -> nn.Module:
        return ODEBlock(ConvDynamics(), method="rk4", step_size=1.0 / depth, gradient=gradient)

    return build


def _resnet_blocks(depth: int) -> nn.Module:
    return nn.Sequential(*[ResBlock() for _ in range(depth)])


#: method -> constructor of the depth-dependent part for a given depth.
METHODS: dict[str, Callable[[int], nn.Module]] = {
    "adjoint": _ode_block("adjoint"),
    "direct": _ode_block("direct"),
    "resnet": _resnet_blocks,
}


def measure(method: str, depth: int, batch_size: int, seed: int = 0) -> dict[str, Any]:
    """Activation bytes and RSS of one training step of ``method`` at ``depth``, in-process."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    torch.manual_seed(seed)
    model = nn.Sequential(METHODS[method](depth), head())
    features = torch.randn(batch_size, CHANNELS, 7, 7)
    labels = torch.randint(0, 10, (batch_size,))
    rss_before = current_rss_bytes()
    started = time.perf_counter()
    with SavedTensorMeter() as meter:
        loss = F.cross_entropy(model(features), labels)
        nfe = total_nfe(model)
        loss.backward()
    return {
        "method": method,
        "depth": depth,
        "nfe": nfe if method != "resnet" else None,
        "batch_size": batch_size,
        "activation_bytes": meter.peak_bytes,
        "peak_rss_bytes": peak_rss_bytes(),
        "rss_before_step_bytes": rss_before,
        "seconds": time.perf_counter() - started,
    }


#: What the fork server imports once for every case: this module's imports, not the
#: module (a case's process imports that itself, cheaply, under ``-m`` as its main).
_PRELOAD = ["torch", "odebench.core.measuring", "odebench.core.solving", "odebench.mnist.models"]


def _measure_in_child(args: tuple[str, int, int]) -> dict[str, Any]:
    torch.set_num_threads(1)
    return measure(*args)


def memory_scaling(spec: Mapping[str, Any], fresh_process: bool = True) -> list[dict[str, Any]]:
    """Every (method, depth) case of ``spec``, each in a fresh process unless told otherwise."""
    cases = [(m, int(d), int(spec["batch_size"])) for m in METHODS for d in spec["depths"]]
    if not fresh_process:
        return [measure(*case) for case in cases]
    rows = []
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    for case in cases:
        # One process per case (maxtasksperchild=1): its peak RSS is its own.
        with context.Pool(1, maxtasksperchild=1) as pool:
            rows.append(pool.apply(_measure_in_child, (case,)))
        row = rows[-1]
        log.info(
            "%s depth %d: %d activation bytes, peak RSS %.0f MiB",
            row["method"], row["depth"], row["activation_bytes"], row["peak_rss_bytes"] / 2**20,
        )  # fmt: skip
    return rows


def measure_to_csv(run: Mapping[str, Any], out: Path) -> None:
    """Measure every case of the run config and write the table."""
    artifacts.write_records(out, FIELDS, memory_scaling(run))


def main(argv: list[str] | None = None) -> int:
    return run_main("python -m odebench.mnist.memory_scaling", __doc__.split("\n")[0],
                    measure_to_csv, argv, out_help="the csv to write", threads=False)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
