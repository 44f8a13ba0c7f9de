"""The MNIST claims on the solve tolerance of a trained ODE-Net, and what the probes
measure beyond the paper (the adjoint's gradient error, the round trip).

Loosening the tolerance at test time: fewer NFE at little cost in accuracy (the paper's,
on the dopri5 sweep of :mod:`~odebench.products.claims.solver_studies`). The adjoint's
gradient against backpropagation through the same solve, and a forward-then-backward
round trip: both off at the training tolerance, less so as it tightens (our own
findings). Each claim's thresholds sit beside it, with why they are what they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from odebench.core import paths
from odebench.products import registry
from odebench.products.claims.conditions import has_rows
from odebench.products.claims.mnist import ERROR, TABLE1
from odebench.products.claims.solver_studies import _JOINT, WORK_PRECISION, _dopri5_sweeps
from odebench.products.claims.verdicts import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    OURS,
    PAPER,
    REPRODUCED,
    Finding,
    Tables,
    Untested,
    _paper_text,
    claim,
)
from odebench.products.stats import Summary, _g, _missing, clopper_pearson, summary
from odebench.products.tables.solver_studies import WHOLE_TEST_SET

# -- Test-time tolerance -------------------------------------------------------------

#: Test-time loosening "costs little": test error rises by at most this many points
#: (above the paper's 0.42% error it would be noticeable, below it within seed spread).
TEST_TIME_MARGIN_PP = 0.5


def _probe_images(tables: Tables) -> int | None:
    """Test images each probe solves: work_precision.csv's ``n_images``, else the probes'.

    The aggregated table does not carry the count yet; the probes' metrics.json beside
    the tables (``../runs/probe/*/seed*/``) record it. None when neither does.
    """
    frame = tables(WORK_PRECISION)
    if "n_images" in frame:
        return int(pd.to_numeric(frame["n_images"]).min())
    runs = tables.directory.parent / "runs" / "probe"
    counts = []
    for path in sorted(runs.glob(f"*/seed*/{paths.METRICS_JSON}")):
        with open(path) as f:
            n = json.load(f).get("n_images")
        if n is not None:
            counts.append(int(n))
    return min(counts) if counts else None


def _binomial(error_pct: float, n: int) -> str:
    low, high = clopper_pearson(error_pct / 100 * n, n)
    return f"[{_g(100 * low)}, {_g(100 * high)}]%"


@claim(
    "test_time_tolerance_tradeoff",
    origin=PAPER,
    statement="A network trained at one tolerance can be evaluated at a looser one: fewer "
    "function evaluations at little cost in accuracy.",
    metric="dopri5 forward NFE and test error % on the whole test set (older probes: their "
    "first test images), tightest vs loosest test-time tolerance",
    rule=(
        f"Per training tolerance, dopri5 (joint step-size control: backends {_JOINT}) "
        "at the loosest test-time tolerance against the tightest "
        "(the same networks on the same images, so the seeds' spread cancels): reproduced if "
        f"every loosest takes fewer NFE with a mean test error at most {TEST_TIME_MARGIN_PP} "
        "points higher, not reproduced otherwise. Each error carries a 95% Clopper-Pearson "
        "interval on the images it was counted on (the whole test set; a probe from before "
        "it classified them: its first images); the rise is paired, so those intervals do not "
        "bound it."
    ),
    paper=_paper_text("test_time_tolerance_tradeoff"),
    tables=(WORK_PRECISION,),
    needs=(
        has_rows(
            WORK_PRECISION,
            "a dopri5 sweep over two or more test-time tolerances",
            f"{WORK_PRECISION} has no dopri5 sweep",
            solver="dopri5",
        ),
    ),  # fmt: skip
)
def _test_time_tolerance_tradeoff(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    # The whole test set where the probes classified it (tightest and loosest dopri5
    # tolerances, the ``all_*`` columns), else the probe's few hundred images.
    whole = WHOLE_TEST_SET[-1] in tables(WORK_PRECISION).columns
    columns = ["nfe_forward", "test_error_pct", *(WHOLE_TEST_SET if whole else ())]
    images = _probe_images(tables)
    holds, rises, parts, notes, counts = [], [], [], [], []
    for train_tol, rows in _dopri5_sweeps(tables, columns).items():
        if rows["tol_or_steps"].nunique() < 2:
            raise Untested(
                f"{tables.directory / WORK_PRECISION}: one test-time tolerance for "
                f"solver=dopri5, train_tol={_g(train_tol)}"
            )
        tight, loose = rows.iloc[0], rows.iloc[-1]
        n, prefix = images, ""
        if whole and not any(_missing(end["all_test_error_pct"]) for end in (tight, loose)):
            n, prefix = int(min(tight["all_images"], loose["all_images"])), "all_"
        else:
            notes.append(_table1_probe(tables, train_tol, rows))
        counts.append(n)
        nfe = (float(tight[f"{prefix}nfe_forward"]), float(loose[f"{prefix}nfe_forward"]))
        error = (float(tight[f"{prefix}test_error_pct"]), float(loose[f"{prefix}test_error_pct"]))
        rise = error[1] - error[0]
        rises.append(rise)
        holds.append(nfe[1] < nfe[0] and rise <= TEST_TIME_MARGIN_PP)
        part = (
            f"trained at {_g(train_tol)}: tol {_g(tight['tol_or_steps'])} → "
            f"{_g(loose['tol_or_steps'])}, NFE {_g(nfe[0])} → {_g(nfe[1])}, test error "
            f"{_g(error[0])}% → {_g(error[1])}%"
        )
        if n:
            part += f" (binomial 95% {_binomial(error[0], n)} → {_binomial(error[1], n)})"
        parts.append(part)
    measured = "; ".join(parts)
    evidence = f"{measured}. {_scope(counts)}. {_table1_note([x for x in notes if x], images)}"
    worst = max(rises)
    sensitivity = f"largest rise {_g(worst)} pp: reproduced for any margin ≥ {_g(max(worst, 0))} pp"
    fewest = min((c for c in counts if c), default=None)
    if fewest:
        sensitivity += (
            f" (margin {TEST_TIME_MARGIN_PP} pp = {_g(TEST_TIME_MARGIN_PP * fewest / 100)} of "
            f"{fewest} images)"
        )
    return Finding(measured, REPRODUCED if all(holds) else NOT_REPRODUCED, evidence.strip(),
                   sensitivity=sensitivity)  # fmt: skip


def _scope(counts: list[int | None]) -> str:
    """Which images the test errors are counted on, and what one image weighs."""
    if not any(counts):
        return (
            "The number of probe images is recorded neither in the table nor beside it: no interval"
        )
    n = min(c for c in counts if c)
    what = f"all {n} test images" if len(set(counts)) == 1 else f"at least {n} test images"
    if len(set(counts)) == 1 and n < 10_000:
        what = f"the first {n} test images"
    return (
        f"On {what} (one image = {_g(100 / n)} pp; the seeds share the images, so the intervals "
        "count them once). The rise is paired (same networks, same images): the rates' "
        "intervals do not bound it, and the tables hold no per-image agreement"
    )


def _table1_probe(tables: Tables, train_tol: float, rows: pd.DataFrame):
    """(Table 1's test error, the probe's at the training tolerance) for the same weights."""
    try:
        odenet = tables.row(TABLE1, ERROR, model="odenet", tol=float(train_tol))
    except Untested:
        return None
    at_train = rows[np.isclose(rows["tol_or_steps"].astype(float), train_tol)]
    probe = float((at_train if not at_train.empty else rows).iloc[0]["test_error_pct"])
    return float(odenet["test_error_pct_mean"]), probe


def _table1_note(pairs: list[tuple[float, float]], images: int | None) -> str:
    """Why the probe's test error differs from Table 1's for the same weights."""
    if not pairs:
        return ""
    table1 = " and ".join(f"{_g(t)}%" for t, _ in pairs)
    probe = " and ".join(f"{_g(p)}%" for _, p in pairs)
    text = (
        f"Table 1 gives {table1} for the same weights (the best-validation checkpoint, which "
        f"the probe loads) on the whole test set, the probe {probe}"
    )
    if images:
        inside = []
        for t, p in pairs:
            low, high = clopper_pearson(p / 100 * images, images)
            inside.append(100 * low <= t <= 100 * high)
        where = "inside" if all(inside) else "not all inside"
        text += (
            f", {where} the probe's intervals: the probe sees only the first {images} test "
            "images (MNIST's authors describe its first 5,000 test images as cleaner and easier "
            "than the last 5,000)"
        )
    return text + "."


# -- What the probes measure beyond the paper -----------------------------------------

REVERSIBILITY = registry.REVERSIBILITY.csv
GRADIENT = ("grad_rel_error", "grad_rel_error_std", "n_seeds")
ROUND_TRIP = ("reconstruction_error", "reconstruction_error_std", "n_seeds")

#: The adjoint's gradient "differs": by more than 1% relative to backpropagation through
#: the same solve. float32 round-off is about 1e-7 relative, so a difference this size is
#: the adjoint's own approximation, and large enough to matter next to a step's size.
GRADIENT_GAP = 0.01
#: A round trip "does not return exactly": relative error above 1e-4, about a thousand
#: times float32's unit round-off (1.2e-7), so the error is the solver's, not arithmetic's.
ROUND_TRIP_GAP = 1e-4


def _limitation(tables: Tables, columns: tuple[str, str, str], gap: float, name: str):
    """Per training tolerance: the measure at the solve tolerance equal to it, and at the tightest.

    Returns (verdict, measured, sensitivity): reproduced if every seed's value at the
    training tolerance is above ``gap`` (Samuelson's lower bound) and the mean falls
    from the training tolerance to the tightest; not reproduced if every seed's value is
    below ``gap`` or it does not fall; inconclusive otherwise.
    """
    frame = tables(REVERSIBILITY, ["train_tol", "tol", *columns])
    verdicts, parts, lows = [], [], []
    for train_tol, rows in frame.groupby("train_tol"):
        rows = rows.sort_values("tol")
        at = rows[np.isclose(rows["tol"].astype(float), float(train_tol))]
        if at.empty:
            raise Untested(
                f"{tables.directory / REVERSIBILITY} has no row with tol = train_tol = "
                f"{_g(train_tol)}"
            )
        value, tightest = summary(at.iloc[0], *columns), summary(rows.iloc[0], *columns)
        low, high = value.seed_bounds()
        falls = tightest.mean < value.mean
        lows.append(low)
        if low > gap and falls:
            verdicts.append(REPRODUCED)
        elif high < gap or not falls:
            verdicts.append(NOT_REPRODUCED)
        else:
            verdicts.append(INCONCLUSIVE)
        parts.append(
            f"trained at {_g(float(train_tol))}: {name} {_pct(value)} at tol {_g(train_tol)} "
            f"(every seed ≥ {_g(100 * low)}%), {_g(100 * tightest.mean)}% at tol "
            f"{_g(rows.iloc[0]['tol'])}"
        )
    verdict = (
        NOT_REPRODUCED if NOT_REPRODUCED in verdicts
        else REPRODUCED if all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE
    )  # fmt: skip
    sensitivity = (
        f"the smallest seed is at least {_g(100 * min(lows))}%: holds for any threshold below "
        f"it (rule {_g(100 * gap)}%)"
    )
    return verdict, "; ".join(parts), sensitivity


def _pct(value: Summary) -> str:
    spread = "" if _missing(value.std) else f" ± {_g(100 * value.std)}"
    return f"{_g(100 * value.mean)}{spread}% (n = {value.n})"


@claim(
    "adjoint_gradient_differs_from_backprop",
    origin=OURS,
    statement="At the training tolerance the adjoint's gradients differ from backpropagation "
    "through the same solver, by a gap that shrinks as the tolerance tightens: the adjoint "
    "gives an approximation of the gradient of the forward pass it differentiates.",
    metric="relative 2-norm difference of the parameters' gradients, adjoint vs "
    "backpropagation through dopri5, per solve tolerance",
    rule=(
        "Per training tolerance, at the solve tolerance equal to it: reproduced if every "
        f"seed's relative gradient difference exceeds {GRADIENT_GAP:.0%} (the smallest seed "
        "bounded from mean, std and n by Samuelson's inequality) and the mean difference at "
        "the tightest tolerance is smaller; not reproduced if every seed is below "
        f"{GRADIENT_GAP:.0%} or the difference does not shrink; inconclusive otherwise."
    ),
    paper=_paper_text("adjoint_gradient_differs_from_backprop"),
    tables=(REVERSIBILITY,),
)
def _adjoint_gradient_differs(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    verdict, measured, sensitivity = _limitation(
        tables, GRADIENT, GRADIENT_GAP, "gradient difference"
    )
    evidence = (
        f"{measured}. A measured limitation, not a claim of the paper: with the adjoint, "
        "training follows an approximate gradient whose error is set by the tolerance"
    )
    return Finding(measured, verdict, evidence, sensitivity=sensitivity)


@claim(
    "round_trip_not_exact",
    origin=OURS,
    statement="Solving the ODE block forward (0 → 1) and back (1 → 0) does not return its "
    "input exactly: the error, far above round-off at the training tolerance, shrinks as "
    "the tolerance tightens.",
    metric="relative 2-norm error of the state after a forward then backward dopri5 solve, "
    "per solve tolerance",
    rule=(
        "Per training tolerance, at the solve tolerance equal to it: reproduced if every "
        f"seed's relative round-trip error exceeds {ROUND_TRIP_GAP:g} (Samuelson's lower "
        "bound from mean, std and n) and the mean error at the tightest tolerance is smaller; "
        f"not reproduced if every seed is below {ROUND_TRIP_GAP:g} or the error does not "
        "shrink; inconclusive otherwise."
    ),
    paper=_paper_text("round_trip_not_exact"),
    tables=(REVERSIBILITY,),
)
def _round_trip_not_exact(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    verdict, measured, sensitivity = _limitation(
        tables, ROUND_TRIP, ROUND_TRIP_GAP, "round-trip error"
    )
    evidence = (
        f"{measured}. The adjoint's backward pass reconstructs the state this way, so its "
        "gradients start from a state off by this much"
    )
    return Finding(measured, verdict, evidence, sensitivity=sensitivity)
