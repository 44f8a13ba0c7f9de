"""asv benchmarks of the solves the pipeline runs, through odebench's own API.

The first four classes time one case of :mod:`odebench.perf.bench` over solver x
tolerance (or step count) x gradient mode with the pipeline's default backend
(``odebench.core.solving.DEFAULT_BACKEND``), so their history across commits is
the history of what a training run pays. :class:`Backends` times every case at
its own tolerance over the solver backends side by side (plain torchdiffeq, the
lean path, the lean path with the seminorm adjoint, torchode). Each benchmark has
``time_`` forward solve and forward+backward, ``track_`` NFE
(hardware-independent), the solver's overhead fraction and the activation bytes,
``peakmem_`` of a forward+backward.

``ODEBENCH_ASV_REDUCED=1`` shrinks every grid to one setting, alternating the
gradient mode between classes so both paths run, for the CI smoke run (see
tests/test_bench.py): each benchmark runs in a process of its own, and torch's
import alone costs about two seconds there.
"""

import os

import torch

from odebench.perf.bench import Prepared

try:  # the backends' comparison exists from the commit that added the backends on
    from odebench.perf.bench import CASES, VARIANTS
except ImportError:  # an older commit (asv benchmarks every commit with this file)
    CASES, VARIANTS = {}, ()

REDUCED = os.environ.get("ODEBENCH_ASV_REDUCED") == "1"
GRADIENTS = ["adjoint", "direct"]


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
        return self.prepared.measure()["nfe_forward"]

    track_nfe_forward.unit = "evaluations"

    def track_nfe_backward(self, solver, setting, gradient):
        return self.prepared.measure()["nfe_backward"]

    track_nfe_backward.unit = "evaluations"

    def track_overhead_fraction(self, solver, setting, gradient):
        return self.prepared.measure()["overhead_fraction"]

    track_overhead_fraction.unit = "fraction of forward time outside the dynamics"

    def track_activation_bytes(self, solver, setting, gradient):
        return self.prepared.measure()["activation_bytes"]

    track_activation_bytes.unit = "bytes"


class MNISTBlockAdaptive(_Solve):
    """The MNIST ODE-Net's block, batch 128, adaptive solvers over tolerances."""

    case = "mnist_block"
    params = [["dopri5"], [1e-3], ["adjoint"]] if REDUCED else [
        ["dopri5", "bosh3"], [1e-1, 1e-3], GRADIENTS
    ]  # fmt: skip


class MNISTBlockFixed(_Solve):
    """The MNIST ODE-Net's block, batch 128, rk4 over step counts."""

    case = "mnist_block"
    params = [["rk4"], [2], ["direct"]] if REDUCED else [["rk4"], [2, 8], GRADIENTS]


class LatentODE(_Solve):
    """The latent ODE's dynamics (small MLP, batch 1000): solver overhead dominates."""

    case = "latent_mlp"
    repeat = (5, 20, 20.0)
    params = [["dopri5"], [1e-5], ["direct"]] if REDUCED else [
        ["dopri5", "bosh3"], [1e-3, 1e-6], GRADIENTS
    ]  # fmt: skip


class CNF2D(_Solve):
    """A 2-D planar CNF step with the exact trace, batch 512."""

    case = "cnf_2d"
    repeat = (5, 20, 20.0)
    params = [["dopri5"], [1e-5], ["adjoint"]] if REDUCED else [
        ["dopri5", "bosh3"], [1e-3, 1e-5], GRADIENTS
    ]  # fmt: skip


class Backends(_Solve):
    """Every case at its own tolerance, dopri5, over the solver backends of
    :data:`odebench.perf.bench.VARIANTS` (a combination a backend cannot run is skipped)."""

    param_names = ["case", "variant", "gradient"]
    repeat = (3, 10, 20.0)
    params = [["latent_mlp"], ["lean+seminorm"], ["adjoint"]] if REDUCED else [
        list(CASES) or ["none"], sorted({v.label for v in VARIANTS}) or ["none"], GRADIENTS
    ]  # fmt: skip

    def setup(self, case, variant, gradient):
        torch.set_num_threads(1)
        chosen = [v for v in VARIANTS if v.label == variant and v.gradient == gradient]
        if not chosen:
            raise NotImplementedError(f"{variant} is not measured with gradient {gradient}")
        self.prepared = Prepared(
            case, "dopri5", CASES[case].tol, gradient,
            backend=chosen[0].backend, adjoint_norm=chosen[0].adjoint_norm,
        )  # fmt: skip
