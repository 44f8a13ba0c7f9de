"""Solver performance cases: what the asv suite times, and a one-screen summary.

A :class:`Case` is a dynamics function plus an initial state and a loss, built
from the same modules the pipeline trains: the MNIST ODE-Net's block
(:class:`~odebench.mnist.models.ConvDynamics`, batch 128), the latent ODE's dynamics
(:class:`~odebench.core.dynamics.LatentDynamics`, batch 1000) and a 2-D CNF
(:class:`~odebench.core.dynamics.PlanarCNFDynamics`). :func:`measure` solves a case
once through :func:`odebench.core.solving.integrate` — the pipeline's only call into
torchdiffeq — and reports NFE forward and backward, wall times, the share of the
forward solve spent outside the dynamics function (the solver's overhead: the
network evaluations alone are the physical limit) and the activation bytes of
the backward pass.

    python -m odebench.perf.bench            # every case at its default setting
    python -m odebench.perf.bench --repeat 5 --threads 1
"""

from __future__ import annotations

import argparse
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
from odebench.core.solving import CountedDynamics, integrate, solver_setting
from odebench.mnist.models import CHANNELS, ConvDynamics


class TimedDynamics(CountedDynamics):
    """Counts calls of a dynamics module and the wall seconds spent inside them.

    The counters are plain attributes (see :class:`CountedDynamics`), so that the
    instrument itself adds as little as it can to the time counted as overhead.
    """

    def __init__(self, func: nn.Module):
        super().__init__(func)
        object.__setattr__(self, "seconds", 0.0)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "seconds":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

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

    def __init__(self, case: str, method: str, setting: float, gradient: str, seed: int = 0):
        if case not in CASES:
            raise ValueError(f"unknown case {case!r}; known: {', '.join(CASES)}")
        self.case = CASES[case]
        torch.manual_seed(seed)
        self.dynamics = TimedDynamics(self.case.dynamics())
        self.state = self.case.state(torch.Generator().manual_seed(seed))
        self.method, self.gradient = method, gradient
        self.tol, self.options = solver_setting(method, setting)
        self.t = torch.tensor([0.0, 1.0])

    def forward(self, state: Any | None = None) -> Any:
        return integrate(
            self.dynamics, self.state if state is None else state, self.t,
            method=self.method, tol=self.tol, options=self.options, gradient=self.gradient,
        )  # fmt: skip

    def step(self) -> None:
        """Forward and backward of the case's loss (one training iteration's solver work)."""
        self.case.loss(self.forward(_requires_grad(self.state))).backward()
        self.dynamics.zero_grad(set_to_none=True)

    def measure(self) -> dict[str, Any]:
        """NFE, times, overhead fraction and activation bytes of one forward+backward."""
        self.dynamics.nfe, self.dynamics.seconds = 0, 0.0
        with torch.no_grad():
            started = time.perf_counter()
            self.forward()
            forward_seconds = time.perf_counter() - started
        inside = self.dynamics.seconds
        forward_nfe = self.dynamics.nfe
        self.dynamics.nfe = 0
        state = _requires_grad(self.state)
        with SavedTensorMeter() as meter:
            started = time.perf_counter()
            loss = self.case.loss(self.forward(state))
            nfe_in_training_forward = self.dynamics.nfe
            loss.backward()
            step_seconds = time.perf_counter() - started
        self.dynamics.zero_grad(set_to_none=True)
        return {
            "nfe_forward": forward_nfe,
            "nfe_backward": self.dynamics.nfe - nfe_in_training_forward,
            "forward_seconds": forward_seconds,
            "step_seconds": step_seconds,
            "overhead_fraction": max(0.0, 1.0 - inside / forward_seconds),
            "activation_bytes": meter.peak_bytes,
        }


def summary(repeat: int = 3) -> list[dict[str, Any]]:
    """Each case at its default tolerance, dopri5, adjoint and direct: medians of ``repeat``."""
    rows = []
    for name, case in CASES.items():
        for gradient in ("adjoint", "direct"):
            prepared = Prepared(name, "dopri5", case.tol, gradient)
            runs = [prepared.measure() for _ in range(repeat)]
            row = {"case": name, "solver": "dopri5", "tol": case.tol, "gradient": gradient}
            for key in runs[0]:
                row[key] = statistics.median(r[key] for r in runs)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.perf.bench", description="One-screen solver performance summary."
    )
    parser.add_argument("--repeat", type=int, default=3, help="medians over this many solves")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    header = (
        f"{'case':<12} {'gradient':<8} {'tol':>7} {'NFE-F':>6} {'NFE-B':>6} "
        f"{'fwd ms':>9} {'step ms':>9} {'overhead':>8} {'act. MiB':>9}"
    )
    print(f"odebench.bench: dopri5, {args.threads} thread(s), medians of {args.repeat}")
    print(header)
    print("-" * len(header))
    for r in summary(args.repeat):
        print(
            f"{r['case']:<12} {r['gradient']:<8} {r['tol']:>7.0e} {r['nfe_forward']:>6.0f} "
            f"{r['nfe_backward']:>6.0f} {1e3 * r['forward_seconds']:>9.1f} "
            f"{1e3 * r['step_seconds']:>9.1f} {r['overhead_fraction']:>8.1%} "
            f"{r['activation_bytes'] / 2**20:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
