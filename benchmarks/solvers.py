"""asv benchmarks of the solves the pipeline runs, through odebench's own API.

Every class times one case of :mod:`odebench.perf.bench` over solver x tolerance (or
step count) x gradient mode: ``time_`` forward solve and forward+backward,
``track_`` NFE (hardware-independent), the solver's overhead fraction and the
activation bytes, ``peakmem_`` of a forward+backward.

``ODEBENCH_ASV_REDUCED=1`` shrinks every grid to one setting, alternating the
gradient mode between classes so both paths run, for the CI smoke run (see
tests/test_bench.py): each benchmark runs in a process of its own, and torch's
import alone costs about two seconds there.
"""

import os

import torch

from odebench.perf.bench import Prepared

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
