"""Solver performance cases: what the asv suite times, and a one-screen summary.

A :class:`Case` is a dynamics function plus an initial state and a loss, built
from the same modules the pipeline trains: the MNIST ODE-Net's block
(:class:`~odebench.mnist.models.ConvDynamics`, batch 128), the latent ODE's dynamics
(:class:`~odebench.core.dynamics.LatentDynamics`, batch 1000) and a 2-D CNF
(:class:`~odebench.core.dynamics.PlanarCNFDynamics`). :meth:`Prepared.measure` solves
a case once through :func:`odebench.core.solving.integrate` — the pipeline's only
call into a solver library — with a given backend and adjoint norm, and reports
NFE forward and backward, wall times, the share of the forward solve spent
outside the dynamics function (the solver's overhead: the network evaluations
alone are the physical limit) and the activation bytes of the backward pass.

The summary puts every case's :data:`VARIANTS` side by side, measured in the same
run and alternated so that machine noise hits them alike: plain torchdiffeq, the
``lean`` backend (the pipeline's default: the same steps, less bookkeeping), the
seminorm adjoint and torchode. ``vs td`` is a variant's time over plain
torchdiffeq's with the same gradient mode.

    python -m odebench.perf.bench            # every case at its default setting
    python -m odebench.perf.bench --repeat 5 --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from odebench.core.dynamics import LatentDynamics, PlanarCNFDynamics
from odebench.core.measuring import SavedTensorMeter
from odebench.core.solving import (
    DEFAULT_ADJOINT_NORM,
    DEFAULT_BACKEND,
    CountedDynamics,
    integrate,
    solver_setting,
)
from odebench.mnist.models import CHANNELS, ConvDynamics


class TimedDynamics(CountedDynamics):
    """Counts calls of a dynamics module and the wall seconds spent inside them.

    The counters are plain attributes (see :class:`CountedDynamics`), so that the
    instrument itself adds as little as it can to the time counted as overhead.
    """

    PLAIN_ATTRIBUTES = CountedDynamics.PLAIN_ATTRIBUTES | {"seconds"}

    def __init__(self, func: nn.Module):
        super().__init__(func)
        self.seconds = 0.0

    def forward(self, t: torch.Tensor, h: Any) -> Any:
        started = time.perf_counter()
        out = self.func(t, h)
        object.__setattr__(self, "seconds", self.seconds + time.perf_counter() - started)
        object.__setattr__(self, "nfe", self.nfe + 1)
        return out


def _sum_loss(state: Any) -> torch.Tensor:
    return state.pow(2).mean()


def _cnf_loss(state: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    # Negative log-likelihood under a standard normal base, up to a constant.
    z, delta_logp = state
    return (0.5 * z.pow(2).sum(1, keepdim=True) + delta_logp).mean()


@dataclass(frozen=True)
class Case:
    """A solver benchmark: dynamics, initial state and loss, made reproducibly."""

    description: str
    dynamics: Callable[[], nn.Module]
    state: Callable[[torch.Generator], Any]
    loss: Callable[[Any], torch.Tensor]
    tol: float  # the default setting of the summary (the experiment's own tolerance)


#: Case name -> case. Batch sizes are those the experiments use.
CASES: dict[str, Case] = {
    "mnist_block": Case(
        "MNIST ODE-Net block, batch 128 x 64 x 7 x 7",
        ConvDynamics,
        lambda g: torch.randn(128, CHANNELS, 7, 7, generator=g),
        _sum_loss,
        1e-3,
    ),
    "latent_mlp": Case(
        "latent ODE dynamics (4 -> 20 -> 4 MLP), batch 1000",
        LatentDynamics,
        lambda g: torch.randn(1000, 4, generator=g),
        _sum_loss,
        1e-5,
    ),
    "cnf_2d": Case(
        "2-D planar CNF (M = 32) with exact trace, batch 512",
        lambda: PlanarCNFDynamics(dim=2, width=32),
        lambda g: (torch.randn(512, 2, generator=g), torch.zeros(512, 1)),
        _cnf_loss,
        1e-5,
    ),
}


def _requires_grad(state: Any) -> Any:
    if isinstance(state, tuple):
        return tuple(s.clone().requires_grad_(True) for s in state)
    return state.clone().requires_grad_(True)


class Prepared:
    """A case built once (weights, state) and solved as often as asked."""

    def __init__(
        self, case: str, method: str, setting: float, gradient: str, seed: int = 0,
        backend: str = DEFAULT_BACKEND, adjoint_norm: str = DEFAULT_ADJOINT_NORM,
    ):  # fmt: skip
        if case not in CASES:
            raise ValueError(f"unknown case {case!r}; known: {', '.join(CASES)}")
        self.case = CASES[case]
        torch.manual_seed(seed)
        self.dynamics = TimedDynamics(self.case.dynamics())
        self.state = self.case.state(torch.Generator().manual_seed(seed))
        self.method, self.gradient = method, gradient
        self.backend, self.adjoint_norm = backend, adjoint_norm
        self.tol, self.options = solver_setting(method, setting)
        self.t = torch.tensor([0.0, 1.0])

    def forward(self, state: Any | None = None) -> Any:
        return integrate(
            self.dynamics, self.state if state is None else state, self.t,
            method=self.method, tol=self.tol, options=self.options, gradient=self.gradient,
            backend=self.backend, adjoint_norm=self.adjoint_norm,
        )  # fmt: skip

    def step(self) -> None:
        """Forward and backward of the case's loss (one training iteration's solver work)."""
        self.case.loss(self.forward(_requires_grad(self.state))).backward()
        self.dynamics.zero_grad(set_to_none=True)

    def measure(self, forwards: int = 5) -> dict[str, Any]:
        """NFE, times, overhead fraction and activation bytes of one forward+backward.

        The forward solve (no graph) is timed ``forwards`` times back to back and the
        median kept, with the overhead of that same solve: a single solve right after
        other work (another variant's training step) runs with cold caches, and its
        overhead moved by +-5 points from one repetition to the next on 2 cores.
        """
        solves = []
        with torch.no_grad():
            for _ in range(forwards):
                self.dynamics.nfe, self.dynamics.seconds = 0, 0.0
                started = time.perf_counter()
                self.forward()
                seconds = time.perf_counter() - started
                solves.append((seconds, self.dynamics.seconds, self.dynamics.nfe))
        forward_seconds, inside, forward_nfe = sorted(solves)[len(solves) // 2]
        self.dynamics.nfe = 0
        try:
            nfe_in_training_forward, step_seconds, activation_bytes = self._training_step(True)
        except RuntimeError as err:  # torch.func (torchode's adjoint) refuses saved-tensor hooks
            if "saved tensor hooks" not in str(err):
                raise
            self.dynamics.nfe = 0
            self.dynamics.zero_grad(set_to_none=True)
            nfe_in_training_forward, step_seconds, activation_bytes = self._training_step(False)
        return {
            "nfe_forward": forward_nfe,
            "nfe_backward": self.dynamics.nfe - nfe_in_training_forward,
            "forward_seconds": forward_seconds,
            "step_seconds": step_seconds,
            "overhead_fraction": max(0.0, 1.0 - inside / forward_seconds),
            "activation_bytes": activation_bytes,
        }

    def _training_step(self, metered: bool) -> tuple[int, float, float]:
        """(NFE of the forward, seconds of forward+backward, peak saved bytes or NaN)."""
        state = _requires_grad(self.state)
        meter = SavedTensorMeter() if metered else contextlib.nullcontext()
        with meter:
            started = time.perf_counter()
            loss = self.case.loss(self.forward(state))
            nfe_in_training_forward = self.dynamics.nfe
            loss.backward()
            step_seconds = time.perf_counter() - started
        self.dynamics.zero_grad(set_to_none=True)
        return nfe_in_training_forward, step_seconds, meter.peak_bytes if metered else math.nan


@dataclass(frozen=True)
class Variant:
    """One way of solving a case: a backend, a gradient mode and an adjoint norm."""

    backend: str
    gradient: str
    adjoint_norm: str = DEFAULT_ADJOINT_NORM

    @property
    def label(self) -> str:
        return self.backend + ("+seminorm" if self.adjoint_norm == "seminorm" else "")


#: What the summary compares, per case: plain torchdiffeq first (the baseline of ``vs td``).
VARIANTS: tuple[Variant, ...] = (
    Variant("torchdiffeq", "adjoint"),
    Variant("lean", "adjoint"),
    Variant("lean", "adjoint", "seminorm"),
    Variant("torchode", "adjoint"),
    Variant("torchdiffeq", "direct"),
    Variant("lean", "direct"),
    Variant("torchode", "direct"),
)


def summary(repeat: int = 3, cases: list[str] | None = None) -> list[dict[str, Any]]:
    """Each case at its default tolerance, dopri5, every :data:`VARIANTS`: medians of
    ``repeat`` solves, the variants alternated within each repetition."""
    rows = []
    for name in cases or list(CASES):
        case = CASES[name]
        prepared, skipped = {}, {}
        for variant in VARIANTS:
            try:
                prepared[variant] = Prepared(
                    name, "dopri5", case.tol, variant.gradient,
                    backend=variant.backend, adjoint_norm=variant.adjoint_norm,
                )  # fmt: skip
                prepared[variant].measure()  # warm-up; also shows an unsupported variant
            except (ValueError, NotImplementedError) as err:  # the backend cannot run it
                prepared.pop(variant, None)
                skipped[variant] = str(err)
        runs: dict[Variant, list[dict[str, Any]]] = {v: [] for v in prepared}
        for _ in range(repeat):
            for variant, p in prepared.items():
                runs[variant].append(p.measure())
        for variant in VARIANTS:
            row = {"case": name, "solver": "dopri5", "tol": case.tol, "backend": variant.backend,
                   "gradient": variant.gradient, "adjoint_norm": variant.adjoint_norm,
                   "variant": variant.label}  # fmt: skip
            if variant in skipped:
                rows.append(row | {"skipped": skipped[variant]})
                continue
            for key in runs[variant][0]:
                row[key] = statistics.median(r[key] for r in runs[variant])
            base = runs.get(Variant("torchdiffeq", variant.gradient))
            if base:
                for key in ("forward_seconds", "step_seconds"):
                    row[f"{key}_vs_torchdiffeq"] = row[key] / statistics.median(
                        r[key] for r in base
                    )
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.perf.bench", description="One-screen solver performance summary."
    )
    parser.add_argument("--repeat", type=int, default=3, help="medians over this many solves")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--case", action="append", choices=list(CASES),
                        help="only this case (repeatable); default: every case")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    header = (
        f"{'case':<12} {'variant':<20} {'gradient':<8} {'tol':>7} {'NFE-F':>6} {'NFE-B':>6} "
        f"{'fwd ms':>9} {'vs td':>6} {'step ms':>9} {'vs td':>6} {'overhead':>8} {'act. MiB':>9}"
    )
    print(
        f"odebench.bench: dopri5, {args.threads} thread(s), medians of {args.repeat}, "
        f"torch {torch.__version__}"
    )
    print(header)
    print("-" * len(header))
    for r in summary(args.repeat, args.case):
        lead = f"{r['case']:<12} {r['variant']:<20} {r['gradient']:<8} {r['tol']:>7.0e}"
        if "skipped" in r:
            print(f"{lead}  not run: {r['skipped']}")
            continue

        def ratio(key: str, r: dict = r) -> str:
            return f"{r[key]:>6.2f}" if key in r else f"{'':>6}"

        print(
            f"{lead} {r['nfe_forward']:>6.0f} {r['nfe_backward']:>6.0f} "
            f"{1e3 * r['forward_seconds']:>9.1f} {ratio('forward_seconds_vs_torchdiffeq')} "
            f"{1e3 * r['step_seconds']:>9.1f} {ratio('step_seconds_vs_torchdiffeq')} "
            f"{r['overhead_fraction']:>8.1%} {r['activation_bytes'] / 2**20:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
