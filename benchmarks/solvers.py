"""asv benchmarks of the solves the pipeline runs, through odebench's own API.

By default the suite times what a solver change needs to see, at the settings the
experiments use: each case of :mod:`odebench.perf.bench` with dopri5 at its own
tolerance (and rk4 at 2 steps for the MNIST block), both gradient modes, the
pipeline's default backend (``odebench.core.solving.DEFAULT_BACKEND``); and
:class:`Backends`, plain torchdiffeq beside the lean path on every case. Each
benchmark has ``time_`` forward solve and forward+backward, ``track_`` NFE
(hardware-independent), the solver's overhead fraction and the activation bytes,
``peakmem_`` of a forward+backward.

``ODEBENCH_ASV_FULL=1`` opts in to the full grids: dopri5 and bosh3 over two
tolerances, rk4 over two step counts, and every backend variant (the seminorm
adjoint, and torchode, whose adjoint takes seconds per call): several times the
default's benchmarks. The default's quick run took 2 min 53 s on 2 cores
(``asv run --python=same --quick``, 2026-12-06; see the README).

``ODEBENCH_ASV_REDUCED=1`` shrinks every grid to one setting, alternating the
gradient mode between classes so both paths run, for the CI smoke run (see
tests/perf/test_bench.py): each benchmark (and parameter set) runs in a process of
its own, forked from one that has imported torch (asv.conf.json's launch method).
"""

import os

import torch

from odebench.perf.bench import Prepared

try:  # the backends' comparison exists from the commit that added the backends on
    from odebench.perf.bench import CASES, VARIANTS
except ImportError:  # an older commit (asv benchmarks every commit with this file)
    CASES, VARIANTS = {}, ()

REDUCED = os.environ.get("ODEBENCH_ASV_REDUCED") == "1"
FULL = os.environ.get("ODEBENCH_ASV_FULL") == "1" and not REDUCED
GRADIENTS = ["adjoint", "direct"]


def grid(reduced: list, default: list, full: list) -> list:
    """The parameter grid of the chosen suite: reduced (CI), default, or full (opt-in)."""
    return reduced if REDUCED else full if FULL else default


class _Solve:
    """Shared benchmark methods; subclasses set ``case`` and ``params``."""

    case = ""
    param_names = ["solver", "tol_or_steps", "gradient"]
    number = 1
    repeat = (1, 5, 20.0)
    timeout = 600

    def setup(self, solver, setting, gradient):
        torch.set_num_threads(1)
        self.prepared = Prepared(self.case, solver, setting, gradient)

    def time_forward(self, solver, setting, gradient):
        with torch.no_grad():
            self.prepared.forward()

    def time_forward_backward(self, solver, setting, gradient):
        self.prepared.step()

    def peakmem_forward_backward(self, solver, setting, gradient):
        self.prepared.step()

    def track_nfe_forward(self, solver, setting, gradient):
        return self.prepared.measure(forwards=1)["nfe_forward"]

    track_nfe_forward.unit = "evaluations"

    def track_nfe_backward(self, solver, setting, gradient):
        return self.prepared.measure(forwards=1)["nfe_backward"]

    track_nfe_backward.unit = "evaluations"

    def track_overhead_fraction(self, solver, setting, gradient):
        return self.prepared.measure()["overhead_fraction"]

    track_overhead_fraction.unit = "fraction of forward time outside the dynamics"

    def track_activation_bytes(self, solver, setting, gradient):
        return self.prepared.measure(forwards=1)["activation_bytes"]

    track_activation_bytes.unit = "bytes"


class MNISTBlockAdaptive(_Solve):
    """The MNIST ODE-Net's block, batch 128, adaptive solvers over tolerances."""

    case = "mnist_block"
    params = grid(
        [["dopri5"], [1e-3], ["adjoint"]],
        [["dopri5"], [1e-3], GRADIENTS],
        [["dopri5", "bosh3"], [1e-1, 1e-3], GRADIENTS],
    )


class MNISTBlockFixed(_Solve):
    """The MNIST ODE-Net's block, batch 128, rk4 over step counts."""

    case = "mnist_block"
    params = grid(
        [["rk4"], [2], ["direct"]], [["rk4"], [2], ["direct"]], [["rk4"], [2, 8], GRADIENTS]
    )


class LatentODE(_Solve):
    """The latent ODE's dynamics (small MLP, batch 1000): solver overhead dominates."""

    case = "latent_mlp"
    repeat = (5, 20, 20.0)
    params = grid(
        [["dopri5"], [1e-5], ["direct"]],
        [["dopri5"], [1e-5], GRADIENTS],
        [["dopri5", "bosh3"], [1e-3, 1e-6], GRADIENTS],
    )


class CNF2D(_Solve):
    """A 2-D planar CNF step with the exact trace, batch 512."""

    case = "cnf_2d"
    repeat = (5, 20, 20.0)
    params = grid(
        [["dopri5"], [1e-5], ["adjoint"]],
        [["dopri5"], [1e-5], GRADIENTS],
        [["dopri5", "bosh3"], [1e-3, 1e-5], GRADIENTS],
    )


class Backends(_Solve):
    """Every case at its own tolerance, dopri5, over the solver backends of
    :data:`odebench.perf.bench.VARIANTS` (a combination a backend cannot run is skipped)."""

    param_names = ["case", "variant", "gradient"]
    repeat = (3, 10, 20.0)
    params = grid(
        [["latent_mlp"], ["lean+seminorm"], ["adjoint"]],
        [list(CASES) or ["none"], ["lean", "torchdiffeq"], GRADIENTS],
        [list(CASES) or ["none"], sorted({v.label for v in VARIANTS}) or ["none"], GRADIENTS],
    )

    def setup(self, case, variant, gradient):
        torch.set_num_threads(1)
        chosen = [v for v in VARIANTS if v.label == variant and v.gradient == gradient]
        if not chosen:
            raise NotImplementedError(f"{variant} is not measured with gradient {gradient}")
        self.prepared = Prepared(
            case, "dopri5", CASES[case].tol, gradient,
            backend=chosen[0].backend, adjoint_norm=chosen[0].adjoint_norm,
        )  # fmt: skip
