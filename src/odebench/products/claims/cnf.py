"""The continuous normalizing flow claims: density matching (Figure 4), maximum
likelihood (Figure 5) and FFJORD's trace estimator, with the trace claim's thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from odebench.products import registry
from odebench.products.claims.verdicts import (
    INCONCLUSIVE,
    LEVEL,
    NOT_REPRODUCED,
    REPRODUCED,
    Finding,
    Inconclusive,
    Tables,
    _g,
    _paper_text,
    above_zero,
    claim,
    loglog_slope,
    summary,
    welch_difference,
)

DENSITY = registry.CNF_DENSITY_MATCHING.csv
KL = ("kl_mean", "kl_std", "n_seeds")


@claim(
    "cnf_width_vs_nf_depth",
    statement="A planar CNF gains capacity by widening (M units) where a planar NF must "
    "deepen (K layers), and fits the targets better at the same number (Figure 4).",
    metric="KL divergence to the target density (mean over seeds), by capacity",
    rule=(
        "Reproduced if the CNF's KL falls with M (negative least-squares slope on log M) on a "
        f"majority of targets and, at the largest capacity both share, the {LEVEL:.0%} Welch "
        "interval of NF minus CNF KL is above zero on at least two thirds of the targets; not "
        "reproduced if the KL does not fall on a majority, or the NF is better on more than a "
        "third; inconclusive otherwise."
    ),
    paper=_paper_text("cnf_width_vs_nf_depth"),
)
def _cnf_width_vs_nf_depth(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    frame = tables(DENSITY, ["target", "model", "capacity", *KL])
    cnf_all = tables.rows(DENSITY, model="cnf")
    tables.rows(DENSITY, model="nf")  # names the file when the NF rows are absent
    targets = sorted(frame["target"].unique())
    falling, wins, losses, parts = 0, 0, 0, []
    for target in targets:
        cnf = cnf_all[cnf_all["target"] == target].sort_values("capacity")
        nf = frame[(frame["target"] == target) & (frame["model"] == "nf")]
        shared = sorted(set(cnf["capacity"]) & set(nf["capacity"]))
        if cnf["capacity"].nunique() < 2 or not shared:
            raise Inconclusive(
                f"{tables.directory / DENSITY}: target={target} needs two CNF capacities "
                "and one capacity shared with the NF"
            )
        slope = float(np.polyfit(np.log(cnf["capacity"].astype(float)), cnf["kl_mean"], 1)[0])
        falling += slope < 0
        top = shared[-1]
        c = cnf[cnf["capacity"] == top].iloc[0]
        n = nf[nf["capacity"] == top].iloc[0]
        nf_kl, cnf_kl = summary(n, *KL), summary(c, *KL)
        diff = welch_difference(nf_kl, cnf_kl)
        verdict = above_zero(diff)
        wins += verdict == REPRODUCED
        losses += verdict == NOT_REPRODUCED
        parts.append(
            f"{target}: CNF KL slope on log M {_g(slope)}; at capacity {top}: "
            f"NF {nf_kl.describe()} vs CNF {cnf_kl.describe()}, NF minus CNF {diff}"
        )
    majority = falling > len(targets) / 2
    if majority and wins >= 2 * len(targets) / 3:
        verdict = REPRODUCED
    elif not majority or losses > len(targets) / 3:
        verdict = NOT_REPRODUCED
    else:
        verdict = INCONCLUSIVE
    measured = (
        f"CNF KL falls with M on {falling}/{len(targets)} targets; CNF better at the largest "
        f"shared capacity on {wins}/{len(targets)}, NF better on {losses}"
    )
    return Finding(measured, verdict, "; ".join(parts))


LIKELIHOOD = registry.CNF_MAX_LIKELIHOOD.csv
NLL = ("test_nll_mean", "test_nll_std", "n_seeds")


@claim(
    "cnf_two_moons_likelihood",
    statement="Trained by maximum likelihood, a CNF fits two moons better than an NF (Figure 5).",
    metric="test negative log-likelihood on two moons (mean over seeds)",
    rule=(
        f"Reproduced if the {LEVEL:.0%} Welch interval of NF minus CNF test NLL on two moons "
        "is above zero, not reproduced if below, inconclusive otherwise."
    ),
    paper=_paper_text("cnf_two_moons_likelihood"),
)
def _cnf_two_moons_likelihood(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    nf = tables.row(LIKELIHOOD, NLL, dataset="two_moons", model="nf")
    cnf = tables.row(LIKELIHOOD, NLL, dataset="two_moons", model="cnf")
    diff = welch_difference(summary(nf, *NLL), summary(cnf, *NLL))
    measured = f"test NLL: NF {summary(nf, *NLL).describe()} vs CNF {summary(cnf, *NLL).describe()}"
    return Finding(measured, above_zero(diff), f"NF minus CNF: {diff} nats")


TRACE = registry.TRACE_ESTIMATOR.csv

#: Hutchinson "clearly" cheaper: its log-log slope at least this much below the exact trace's.
SLOPE_GAP = 0.5
#: The exact trace must show its superlinear cost (slope above this) for the test to decide.
EXACT_MIN_SLOPE = 1.0


@claim(
    "hutchinson_linear_in_dim",
    statement="Hutchinson's trace estimator makes a CNF step's cost grow about linearly in "
    "the dimension D instead of quadratically (FFJORD).",
    metric="log-log slope of seconds per function evaluation (else per step) on D, between "
    "the two largest D",
    rule=(
        "The growth exponent of the cost between the two largest D measured, where the "
        "solver's fixed per-evaluation costs weigh least (over the whole range they flatten "
        f"both curves). Reproduced if Hutchinson's exponent is at least {SLOPE_GAP} below the "
        f"exact trace's; inconclusive if the exact trace's is at most {EXACT_MIN_SLOPE} (its "
        "quadratic cost does not show at these D) or fewer than three D are measured; not "
        "reproduced otherwise."
    ),
    paper=_paper_text("hutchinson_linear_in_dim"),
)
def _hutchinson_linear_in_dim(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    frame = tables(TRACE, ["dim", "estimator", "seconds_per_step"])
    compared = frame[frame["estimator"].isin(["exact", "hutchinson"])]
    # Per evaluation where every compared row has one: the two estimators' solves take
    # different NFE, and the claim is about the cost of one evaluation's trace.
    per_eval = "seconds_per_nfe" in compared and bool(compared["seconds_per_nfe"].gt(0).all())
    slopes, overall = {}, {}
    for estimator in ("exact", "hutchinson"):
        rows = (
            tables.rows(TRACE, estimator=estimator)
            .groupby("dim", as_index=False)
            .mean(numeric_only=True)
            .dropna(subset=["seconds_per_step"])
        )
        if len(rows) < 3:
            raise Inconclusive(f"{tables.directory / TRACE}: fewer than 3 dims for {estimator}")
        rows = rows.sort_values("dim")
        cost = rows["seconds_per_nfe"] if per_eval else rows["seconds_per_step"]
        slopes[estimator] = loglog_slope(rows["dim"].iloc[-2:], cost.iloc[-2:])
        overall[estimator] = loglog_slope(rows["dim"], cost)
    exact, hutchinson = slopes["exact"], slopes["hutchinson"]
    if exact <= EXACT_MIN_SLOPE:
        verdict = INCONCLUSIVE
    elif hutchinson <= exact - SLOPE_GAP:
        verdict = REPRODUCED
    else:
        verdict = NOT_REPRODUCED
    unit = "seconds per evaluation" if per_eval else "seconds per step"
    dims = sorted(frame["dim"].unique())
    measured = (
        f"slope of {unit} on D from {dims[-2]} to {dims[-1]}: exact {_g(exact)}, "
        f"Hutchinson {_g(hutchinson)}"
    )
    evidence = (
        f"{measured}; over all {len(dims)} D from {dims[0]} to {dims[-1]}: exact "
        f"{_g(overall['exact'])}, Hutchinson {_g(overall['hutchinson'])}"
    )
    return Finding(measured, verdict, evidence)
