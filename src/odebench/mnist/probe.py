"""Probing a trained ODE-Net: test-time solver sweeps, reversibility, backward NFE.

A probe loads the weights of one finished MNIST run (``model.pt`` beside its
``metrics.json``) and measures, without training further:

- ``sweep.csv``: for each test-time solver and tolerance (adaptive methods) or
  step count (fixed-grid methods), and each solver backend of ``sweep_backends``
  that offers the method (:func:`sweep_cases`), the forward NFE, the wall time of
  the ODE block's solve, the numerical error of its output against a float64
  dopri5 reference solve at a much tighter tolerance, and the test error of the
  whole network with that solve (Fig. 3a, 3b and the work-precision diagram).
  dopri5's tightest and loosest tolerances (first backend) also classify the first
  ``tradeoff_images`` test images, all 10,000 by default, in batches of ``images``:
  their ``all_*`` columns, the test error that loosening the tolerance costs, on a
  test set large enough to tell (:meth:`Probe.tradeoff`).
  Beside torchdiffeq's joint step-size control (one step size and one error norm
  for the whole batch; backends ``torchdiffeq`` and ``lean``), ``torchode`` controls
  each sample's step on its own, the minibatching limitation made measurable.
  Each case's ``seconds`` is a single solve, timed once and not repeated (at each
  tolerance the backends run one after the other), so a timing carries the noise of
  one measurement: compare them only as ratios within one probe.
- ``reversibility.csv``: solving forward 0 -> 1 and back 1 -> 0 does not return
  exactly to the input (the limitation the paper names in Section 6); and the
  adjoint's gradients differ from backpropagation through the same solver.
- ``backward_nfe.csv``: forward and backward NFE of the adjoint, one image at a
  time, for dopri5 with torchdiffeq's full error norm and with the seminorm, and
  for scipy's LSODA (the paper's solver family, see :data:`BACKWARD_ARMS`) — the
  per-solver side of Fig. 3c.

A probe's run config is the budget's ``solver_studies.probe`` settings plus which
trained run it probes (``train_dir``, ``arm``, ``seed``) and the ``family``,
``budget`` and ``device`` every run config carries (:data:`RUN_KEYS`). Its
directory holds config.json, the three tables and metrics.json
(:class:`~odebench.core.run.RunEnvelope`). The probe runs on the CPU, whatever the
``device``: scipy's LSODA (the backward-NFE arm) solves on NumPy arrays, and the
sweep's timings are only compared with each other.

Entry point (the Snakemake rule calls it)::

    python -m odebench.mnist.probe --run-config '{...}' --out DIR [--threads N]
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from odebench.core import artifacts, paths
from odebench.core.backends import StepBudgetExceeded
from odebench.core.cli import run_main
from odebench.core.measuring import count_parameters
from odebench.core.run import RunEnvelope
from odebench.core.solving import (
    BACKENDS,
    DEFAULT_BACKEND,
    ODEBlock,
    integrate,
    ode_blocks,
    solver_options,
    solver_setting,
    supports,
)
from odebench.core.status import COMPLETED, STEP_BUDGET_EXHAUSTED, Outcome
from odebench.mnist.data import DataError, load_mnist
from odebench.mnist.models import build_model

log = logging.getLogger(__name__)

#: ``family`` of every probe's metrics.json.
FAMILY = "probe"
#: Keys of a probe's run config that say which run it is; the others are its settings.
RUN_KEYS = ("family", "budget", "arm", "seed", "train_dir", "device")

SWEEP_FIELDS = (
    "solver", "backend", "kind", "tol_or_steps", "status", "nfe_forward", "error", "seconds",
    "test_error_pct", "all_images", "all_nfe_forward", "all_test_error_pct",
)  # fmt: skip
#: The test-time solver whose tightest and loosest tolerances classify the whole test set.
TRADEOFF_SOLVER = "dopri5"
REVERSIBILITY_FIELDS = (
    "tol", "reconstruction_error", "grad_rel_error", "nfe_forward", "nfe_reverse",
    "nfe_backward_adjoint",
)  # fmt: skip
BACKWARD_FIELDS = ("solver", "adjoint", "image", "nfe_forward", "nfe_backward")

#: Arms of the per-image backward-NFE probe: (label, torchdiffeq method, options,
#: adjoint scope, adjoint norm). ``full`` scope integrates the parameters' adjoint too,
#: as in training; ``state`` only the state's. LSODA can only run the ``state`` scope:
#: scipy's LSODA allocates a dense work array quadratic in the state's size for its
#: stiff mode. With the parameters' adjoint (75,392 parameters) one image already fails
#: with "MemoryError: Unable to allocate 47.7 GiB" (measured with torchdiffeq 0.2.5
#: and scipy 1.17.1); the state-only adjoint of one image (2 x 3,136 + 1 entries)
#: needs 0.3 GB. ``dopri5+seminorm`` is dopri5's full-scope arm with the seminorm
#: (:data:`~odebench.core.solving.ADJOINT_NORMS`, Kidger, Chen & Lyons 2021): the same
#: forward solve, a backward solve whose step control ignores the parameters' adjoint,
#: so the two arms side by side show the backward evaluations the seminorm saves.
BACKWARD_ARMS: tuple[tuple[str, str, dict, str, str], ...] = (
    ("dopri5", "dopri5", {}, "full", "full"),
    ("dopri5+seminorm", "dopri5", {}, "full", "seminorm"),
    ("dopri5", "dopri5", {}, "state", "full"),
    ("lsoda", "scipy_solver", {"solver": "LSODA"}, "state", "full"),
)


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """``||value - reference|| / ||reference||`` over all entries (2-norm)."""
    value, reference = value.double(), reference.double()
    return float(torch.linalg.vector_norm(value - reference) / torch.linalg.vector_norm(reference))


@torch.no_grad()
def round_trip(
    dynamics: nn.Module,
    h0: torch.Tensor,
    tol: float,
    method: str = "dopri5",
    max_num_steps: int = 10_000,
    backend: str = DEFAULT_BACKEND,
) -> dict[str, Any]:
    """Solve 0 -> 1, then back 1 -> 0 from the result; how far from ``h0`` does it land?

    ``dynamics`` must count its calls in ``nfe`` (a :class:`CountedDynamics`).
    Returns the relative reconstruction error and the NFE of both solves.
    """
    t = torch.tensor([0.0, 1.0]).to(h0)
    options = solver_options(method, None, max_num_steps)
    start = dynamics.nfe
    h1 = integrate(dynamics, h0, t, method=method, tol=tol, options=options, backend=backend)
    middle = dynamics.nfe
    back = integrate(dynamics, h1, t.flip(0), method=method, tol=tol, options=options,
                     backend=backend)  # fmt: skip
    return {
        "reconstruction_error": relative_error(back, h0),
        "nfe_forward": middle - start,
        "nfe_reverse": dynamics.nfe - middle,
    }


def sweep_backends(spec: Mapping[str, Any]) -> list[str]:
    """The spec's ``sweep_backends``, checked; the default backend for a spec without them."""
    backends = [str(b) for b in spec.get("sweep_backends", [DEFAULT_BACKEND])]
    if not backends:
        raise ValueError("sweep_backends is empty; name at least one of: " + ", ".join(BACKENDS))
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown sweep backend(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(BACKENDS)}")  # fmt: skip
    return backends


def sweep_cases(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, float, str]]:
    """(solver, kind, tolerance or step count, backend) for every case of the sweep spec.

    Adaptive cases run with every backend of ``sweep_backends`` that offers the method,
    one backend after the other at each tolerance; fixed-grid cases with the first
    backend only (without step-size control, the backends differ only in overhead).
    A backend that does not offer a method is left out of its cases (logged once).
    """
    backends = sweep_backends(spec)
    missing = set()
    cases = [(solver, "tol", float(tol)) for solver, tols in spec["adaptive"].items()
             for tol in tols]  # fmt: skip
    cases += [(solver, "steps", int(steps)) for solver, counts in spec["fixed_steps"].items()
              for steps in counts]  # fmt: skip
    for solver, kind, value in cases:
        candidates = backends if kind == "tol" else backends[:1]
        for backend in candidates:
            if supports(backend, solver):
                yield solver, kind, value, backend
            elif (backend, solver) not in missing:
                missing.add((backend, solver))
                log.info("sweep: backend %s does not offer %s; its %s cases are left out",
                         backend, solver, solver)  # fmt: skip


def load_trained(train_dir: Path) -> tuple[nn.Sequential, dict[str, Any]]:
    """The trained model of a finished MNIST run and that run's config."""
    run = artifacts.read_json(train_dir / paths.CONFIG_JSON)
    weights = train_dir / paths.MODEL
    if not weights.is_file():
        raise FileNotFoundError(
            f"{weights}: not found (weights are not committed); retrain this run with "
            f"`snakemake --forcerun train_mnist {train_dir / paths.METRICS_JSON}`"
        )
    model = build_model(run["model"], run)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    if not isinstance(model, nn.Sequential) or len(ode_blocks(model)) != 1:
        raise ValueError(f"{train_dir}: model {run['model']!r} is not an ODE-Net")
    return model, run


class Probe:
    """Measurements on one trained ODE-Net (stem, one ODE block, head)."""

    def __init__(self, model: nn.Sequential, spec: Mapping[str, Any]):
        self.stem, self.block, self.head = model[0], model[1], model[2]
        assert isinstance(self.block, ODEBlock)
        self.spec = spec
        self.max_num_steps = int(spec["max_num_steps"])
        # The run's own backend: reversibility, backward NFE and, unless a case names
        # another, the sweep (a config from before the key existed: the default).
        self.backend = str(spec.get("backend", DEFAULT_BACKEND))
        self.t = torch.tensor([0.0, 1.0])

    def solve(self, h: torch.Tensor, method: str, value: float, **kw: Any) -> torch.Tensor:
        """The block's solve over [0, 1] with another method and tolerance (or step count)."""
        tol, options = solver_setting(method, value, self.max_num_steps)
        kw.setdefault("backend", self.backend)
        return integrate(
            kw.pop("dynamics", self.block.dynamics), h, self.t.to(h),
            method=method, tol=tol, options=options, **kw,
        )  # fmt: skip

    @torch.inference_mode()
    def sweep(self, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, Any]]:
        """One row per case of :func:`sweep_cases`; ``seconds`` is one solve, timed once."""
        h = self.stem(x)
        reference = copy.deepcopy(self.block.dynamics).double()
        first = sweep_backends(self.spec)[0]
        started = time.perf_counter()
        z_ref = self.solve(
            h.double(), "dopri5", float(self.spec["reference_tol"]), dynamics=reference,
            backend=first,
        )  # fmt: skip
        log.info(
            "reference solve (float64, dopri5, %s, tol %g): %d evaluations, %.1f s", first,
            self.spec["reference_tol"], reference.nfe, time.perf_counter() - started,
        )  # fmt: skip
        rows = []
        for solver, kind, value, backend in sweep_cases(self.spec):
            row = {"solver": solver, "backend": backend, "kind": kind, "tol_or_steps": value}
            self.block.nfe = 0
            started = time.perf_counter()
            try:
                z = self.solve(h, solver, value, backend=backend)
            except StepBudgetExceeded:
                rows.append(row | {"status": STEP_BUDGET_EXHAUSTED, "nfe_forward": self.block.nfe})
                continue
            seconds = time.perf_counter() - started
            wrong = int((self.head(z).argmax(1) != y).sum())
            rows.append(row | {
                "status": COMPLETED,
                "nfe_forward": self.block.nfe,
                "error": relative_error(z, z_ref),
                "seconds": seconds,
                "test_error_pct": 100.0 * wrong / len(y),
            })  # fmt: skip
            log.info(
                "%s (%s) %s=%g: nfe %d, error %.3g, %.2f s, test error %.2f%%", solver, backend,
                kind, value, self.block.nfe, rows[-1]["error"], seconds,
                rows[-1]["test_error_pct"],
            )  # fmt: skip
        return rows

    def tradeoff(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> dict[float, dict]:
        """dopri5 (first sweep backend) at its tightest and loosest sweep tolerance on all of
        ``x``, in batches of ``batch_size``: images, mean forward NFE per batch, test error.

        Where the sweep's images (a few hundred, one image = 0.2 pp at 500) cannot tell a
        rise of a fraction of a point, the whole test set can. A tolerance whose solve
        exhausts the step budget is left out.
        """
        tols = [float(t) for t in self.spec["adaptive"].get(TRADEOFF_SOLVER, [])]
        backend = sweep_backends(self.spec)[0]
        results = {}
        for tol in sorted({min(tols), max(tols)}) if tols else []:
            wrong, nfes = 0, []
            try:
                with torch.no_grad():
                    for start in range(0, len(x), batch_size):
                        self.block.nfe = 0
                        h = self.stem(x[start : start + batch_size])
                        z = self.solve(h, TRADEOFF_SOLVER, tol, backend=backend)
                        nfes.append(self.block.nfe)
                        wrong += int(
                            (self.head(z).argmax(1) != y[start : start + batch_size]).sum()
                        )
            except StepBudgetExceeded:
                log.info("tradeoff: dopri5 at tol %g exhausted its step budget", tol)
                continue
            results[tol] = {"all_images": len(x), "all_nfe_forward": sum(nfes) / len(nfes),
                            "all_test_error_pct": 100.0 * wrong / len(x)}  # fmt: skip
            log.info("tradeoff: dopri5 (%s) tol %g on %d test images: nfe %.1f, test error %.2f%%",
                     backend, tol, len(x), results[tol]["all_nfe_forward"],
                     results[tol]["all_test_error_pct"])  # fmt: skip
        return results

    def reversibility(self, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, Any]]:
        with torch.no_grad():
            h0 = self.stem(x)
        params = list(self.block.parameters())
        rows = []
        for tol in self.spec["reversibility_tolerances"]:
            tol = float(tol)
            trip = round_trip(self.block.dynamics, h0, tol, max_num_steps=self.max_num_steps,
                              backend=self.backend)  # fmt: skip
            grads = {}
            for gradient in ("adjoint", "direct"):
                self.block.nfe = 0
                z = self.solve(h0, "dopri5", tol, gradient=gradient)
                forward = self.block.nfe
                loss = F.cross_entropy(self.head(z), y)
                grads[gradient] = torch.cat(
                    [g.flatten() for g in torch.autograd.grad(loss, params)]
                )
                if gradient == "adjoint":
                    backward = self.block.nfe - forward
            rows.append({
                "tol": tol,
                **trip,
                "grad_rel_error": relative_error(grads["adjoint"], grads["direct"]),
                "nfe_backward_adjoint": backward,
            })  # fmt: skip
            log.info("reversibility tol %g: %s", tol, rows[-1])
        return rows

    def backward_nfe(self, x: torch.Tensor, y: torch.Tensor, tol: float) -> list[dict[str, Any]]:
        with torch.no_grad():
            features = self.stem(x)
        rows = []
        for label, method, options, scope, norm in BACKWARD_ARMS:
            adjoint_params = tuple(self.block.parameters()) if scope == "full" else ()
            for i in range(len(x)):
                h = features[i : i + 1].clone().requires_grad_(True)
                self.block.nfe = 0
                z = integrate(
                    self.block.dynamics, h, self.t, method=method, tol=tol,
                    options=options or solver_options(method, None, self.max_num_steps),
                    gradient="adjoint", adjoint_norm=norm, adjoint_params=adjoint_params,
                    backend=self.backend,
                )  # fmt: skip
                forward = self.block.nfe
                F.cross_entropy(self.head(z), y[i : i + 1]).backward()
                rows.append({
                    "solver": label, "adjoint": scope, "image": i,
                    "nfe_forward": forward, "nfe_backward": self.block.nfe - forward,
                })  # fmt: skip
            mine = [r for r in rows if r["solver"] == label and r["adjoint"] == scope]
            log.info("backward NFE, %s (%s adjoint, %s norm), %d images: forward %.1f, "
                     "backward %.1f", label, scope, norm, len(mine),
                     sum(r["nfe_forward"] for r in mine) / len(mine),
                     sum(r["nfe_backward"] for r in mine) / len(mine))  # fmt: skip
        return rows


def probe(run: Mapping[str, Any], out_dir: Path, threads: int = 1) -> dict[str, Any]:
    """Run every measurement on the trained ODE-Net of ``run["train_dir"]``; write ``out_dir``.

    The trained run and the data are loaded, and ``run`` checked against them,
    before anything is written.
    """
    train_dir = Path(run["train_dir"])
    sweep_backends(run)  # a wrong name fails before anything is loaded or written
    model, trained = load_trained(train_dir)
    if run["seed"] != trained["seed"]:
        raise ValueError(f"seed {run['seed']} does not match the seed {trained['seed']} of "
                         f"the trained run {train_dir}")  # fmt: skip
    data = load_mnist(Path(trained["data"]))
    spec = {k: v for k, v in run.items() if k not in RUN_KEYS}
    arm = run.get("arm", train_dir.parent.name)
    envelope = RunEnvelope.open(run, out_dir, family=FAMILY, arm=arm, threads=threads,
                                device="cpu")  # fmt: skip
    torch.manual_seed(int(trained["seed"]))
    n = int(spec["images"])
    x_test, y_test = data["x_test"][:n], data["y_test"][:n]
    m = int(spec["reversibility_images"])
    k = int(spec["backward_images"])
    probe_ = Probe(model, spec)
    log.info("probing %s (trained at tol %g) on %d test images", train_dir, trained["tol"], n)
    sweep = probe_.sweep(x_test, y_test)
    every = spec.get("tradeoff_images", n)  # a config from before the key: the probe's images
    every = len(data["y_test"]) if every is None else int(every)
    tradeoff = probe_.tradeoff(data["x_test"][:every], data["y_test"][:every], n)
    first = sweep_backends(spec)[0]
    for row in sweep:
        if (row["solver"], row["backend"], row["kind"]) == (TRADEOFF_SOLVER, first, "tol"):
            row.update(tradeoff.get(float(row["tol_or_steps"]), {}))
    reversibility = probe_.reversibility(x_test[:m], y_test[:m])
    backward = probe_.backward_nfe(data["x_train"][:k], data["y_train"][:k], float(trained["tol"]))
    artifacts.write_records(envelope.out_dir / paths.SWEEP_CSV, SWEEP_FIELDS, sweep)
    artifacts.write_records(envelope.out_dir / paths.REVERSIBILITY_CSV, REVERSIBILITY_FIELDS,
                            reversibility)  # fmt: skip
    artifacts.write_records(envelope.out_dir / paths.BACKWARD_NFE_CSV, BACKWARD_FIELDS, backward)
    results = {"train_tol": trained["tol"], "n_images": n, "spec": spec,
               "train_run": str(train_dir)}  # fmt: skip
    return envelope.close(Outcome(COMPLETED), results, params=count_parameters(model))


def main(argv: list[str] | None = None) -> int:
    return run_main("python -m odebench.mnist.probe", __doc__.split("\n")[0], probe, argv,
                    errors=(FileNotFoundError, ValueError, KeyError, DataError),
                    out_help="directory for the probe's files")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
