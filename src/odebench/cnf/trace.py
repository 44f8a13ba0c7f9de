"""FFJORD's trace estimator: the cost of a CNF step against the data dimension D.

For every D of the study and every trace estimator (exact, Hutchinson with noise
held fixed over a solve, Hutchinson with fresh noise at every evaluation), one
training step is timed and its forward and backward NFE counted, and the
estimator's variance and bias of log p(x) are measured against the exact trace.
FFJORD's claim (O(D) per step instead of O(D^2)) is FFJORD's, not the Neural ODE
paper's; the report keeps it apart.

A study directory holds ``config.json``, ``trace.csv`` (one row per dimension and
estimator, :data:`TRACE_FIELDS`) and ``metrics.json``
(:class:`~odebench.core.run.RunEnvelope`). A (dimension, estimator) case whose
solve exhausts its step budget is a row with that status, not a failed study.

    python -m odebench.cnf trace --run-config '{...}' --out DIR [--threads N]

The run config is the budget's ``cnf.trace`` settings (see
:func:`odebench.pipeline.config.cnf_trace_spec`) with ``family: cnf_trace`` and the
``seed``; it is written unchanged as config.json.

The study runs on the CPU, whatever the config's ``device``: its claim is about
how a step's cost grows with D, and at these sizes (D <= 64, batches of a few
hundred) a GPU step would time kernel launches, not the trace's work.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from odebench.cnf.flows import CNF
from odebench.core import artifacts, paths
from odebench.core.backends import StepBudgetExceeded
from odebench.core.cli import run_main
from odebench.core.run import RunEnvelope
from odebench.core.solving import reset_nfe, solver_keys, total_nfe
from odebench.core.status import COMPLETED, STEP_BUDGET_EXHAUSTED, Outcome

log = logging.getLogger(__name__)

#: ``family`` and ``arm`` of the study's metrics.json (its run directory is runs/cnf_trace/study/).
FAMILY, ARM = "cnf_trace", "study"
TRACE_FIELDS = ("dim", "estimator", "status", "seconds_per_step", "nfe", "nfe_backward",
                "seconds_per_nfe", "variance", "bias", "exact_log_prob_std", "detail")  # fmt: skip


def trace_data(dim: int, n: int, seed: int) -> torch.Tensor:
    """A two-component Gaussian mixture in ``dim`` dimensions (means ±1.5 per axis)."""
    generator = torch.Generator().manual_seed(seed)
    sign = torch.where(torch.rand(n, 1, generator=generator) < 0.5, -1.5, 1.5)
    return sign + 0.5 * torch.randn(n, dim, generator=generator)


def _estimator_variance(model: CNF, x: torch.Tensor, draws: int) -> torch.Tensor:
    """log p(x) per point for ``draws`` independent noise draws: (draws, N)."""
    with torch.no_grad():
        return torch.stack([model.log_prob(x) for _ in range(draws)])


def study_model(spec: Mapping[str, Any], dim: int, estimator: str) -> CNF:
    """The CNF the trace study trains at dimension ``dim`` with ``estimator``."""
    return CNF(dim, int(spec["width"]), int(spec["hyper_hidden"]), estimator,
               tol=spec["tol"], method=spec["solver"], gradient=spec["gradient"],
               max_num_steps=spec["max_num_steps"], **solver_keys(spec))  # fmt: skip


def trace_study(spec: Mapping[str, Any], seed: int) -> list[dict[str, Any]]:
    """One row per (dim, estimator): seconds and NFE of a training step, estimator variance.

    Every estimator starts from the same weights (same seed) on the same batch, so
    the exact trace's log p(x) is the reference that ``bias`` is measured against.
    """
    rows = []
    for dim in map(int, spec["dims"]):
        x = trace_data(dim, int(spec["batch_size"]), seed)
        reference = None
        for estimator in spec["estimators"]:
            torch.manual_seed(seed)
            model = study_model(spec, dim, estimator)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            row: dict[str, Any] = {"dim": dim, "estimator": estimator, "status": COMPLETED}
            try:
                # Two solves suffice to show that the exact trace has no variance.
                draws = 2 if estimator == "exact" else int(spec["noise_draws"])
                estimates = _estimator_variance(model, x, draws)
                if reference is None and estimator == "exact":
                    reference = estimates[0]
                seconds, nfe_f, nfe_b = [], [], []
                for step in range(int(spec["steps"]) + 1):  # the first step warms up
                    started = time.perf_counter()
                    optimizer.zero_grad(set_to_none=True)
                    reset_nfe(model)
                    loss = -model.log_prob(x).mean()
                    forward = total_nfe(model)
                    loss.backward()
                    optimizer.step()
                    if step:
                        seconds.append(time.perf_counter() - started)
                        nfe_f.append(forward)
                        nfe_b.append(total_nfe(model) - forward)
            except StepBudgetExceeded as err:
                row.update(status=STEP_BUDGET_EXHAUSTED, detail=str(err))
                log.info("dim %d %s: %s", dim, estimator, err)
                rows.append(row)
                continue
            step_seconds = statistics.median(seconds)
            row.update(
                seconds_per_step=step_seconds,
                nfe=float(np.mean(nfe_f)),
                nfe_backward=float(np.mean(nfe_b)),
                seconds_per_nfe=step_seconds / (np.mean(nfe_f) + np.mean(nfe_b)),
                # Variance over noise draws of one point's log p(x), mean over points.
                variance=float(estimates.var(dim=0).mean()),
                bias=float((estimates.mean(0) - reference).mean()) if reference is not None
                else None,
                exact_log_prob_std=float(reference.std()) if reference is not None else None,
            )  # fmt: skip
            log.info("dim %d %s: %.3f s/step, NFE %.1f + %.1f, variance %.3g", dim, estimator,
                     step_seconds, row["nfe"], row["nfe_backward"], row["variance"])  # fmt: skip
            rows.append(row)
    return rows


def trace(run: Mapping[str, Any], out_dir: Path, threads: int = 1) -> dict[str, Any]:
    """Run the study of ``run`` (settings and ``seed``) into ``out_dir``; returns its metrics.

    The study completes even when some cases exhaust their step budget; its
    ``status_detail`` lists them.
    """
    envelope = RunEnvelope.open(run, out_dir, family=FAMILY, arm=ARM, threads=threads,
                                device="cpu")  # fmt: skip
    rows = trace_study(run, int(run["seed"]))
    artifacts.write_records(envelope.out_dir / paths.TRACE_CSV, TRACE_FIELDS, rows)
    failed = [f"dim {r['dim']} {r['estimator']}: {r['status']}" for r in rows
              if r["status"] != COMPLETED]  # fmt: skip
    return envelope.close(Outcome(COMPLETED, "; ".join(failed)), {"rows": len(rows)})


def main(argv: list[str] | None = None) -> int:
    return run_main("python -m odebench.cnf trace", "The trace-estimator study, one seed.",
                    trace, argv, errors=(ValueError, KeyError))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
