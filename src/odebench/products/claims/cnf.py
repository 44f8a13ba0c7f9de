"""The continuous normalizing flow claims: density matching (Figure 4), maximum
likelihood (Figure 5), FFJORD's trace estimator, and what the trace study shows about
Hutchinson's noise, with each claim's thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from odebench.products import registry
from odebench.products.claims.conditions import has_rows, min_seeds, trained_to_convergence
from odebench.products.claims.verdicts import (
    FFJORD,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    OURS,
    PAPER,
    REPRODUCED,
    UNTESTED,
    Comparison,
    Finding,
    Tables,
    Untested,
    _paper_text,
    all_of,
    claim,
    compare_above,
    most_seeds,
    reference_value,
)
from odebench.products.stats import LEVEL, Summary, _g, loglog_slope, summary

DENSITY = registry.CNF_DENSITY_MATCHING.csv
KL = ("kl_mean", "kl_std", "n_seeds")

#: A part of the density claim holds when it is shown on at least this share of the
#: targets, and fails when it is contradicted on more than the rest: the paper shows
#: each target as an image, and one hard target should not decide the claim alone.
TARGET_SHARE = 2 / 3

PARTS = {
    "width": "width helps the CNF (KL at the smallest M minus at the largest above zero)",
    "depth": "depth helps the NF (KL falls at every step of K: each step's interval above zero)",
    "better": "the CNF fits better at the largest shared K = M (NF minus CNF above zero)",
}


def _part(verdicts: list[str]) -> str:
    shown, contradicted = verdicts.count(REPRODUCED), verdicts.count(NOT_REPRODUCED)
    if shown >= TARGET_SHARE * len(verdicts):
        return REPRODUCED
    if contradicted > (1 - TARGET_SHARE) * len(verdicts):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def _params(rows: pd.DataFrame) -> str:
    if "params_mean" not in rows:
        return "–"
    return " / ".join(f"{int(p)}" for p in rows.sort_values("capacity")["params_mean"])


@claim(
    "cnf_width_vs_nf_depth",
    origin=PAPER,
    statement="A planar CNF gains capacity by widening (M units) where a planar NF must "
    "deepen (K layers), and fits the targets better at the same number (Figure 4).",
    metric="KL divergence to the target density (mean over seeds), by capacity K = M; "
    "parameter counts",
    rule=(
        f"Three parts, each judged per target by {LEVEL:.0%} Welch intervals: (1) "
        f"{PARTS['width']}; (2) {PARTS['depth']}, a step whose interval lies wholly below zero "
        f"contradicting it; (3) {PARTS['better']}. A part holds if shown on at least "
        f"{TARGET_SHARE:.0%} of the targets and fails if contradicted on more than "
        f"{1 - TARGET_SHARE:.0%}. Reproduced if all three hold, not reproduced if any fails, "
        "inconclusive otherwise. K = M is the paper's pairing, not equal parameters: the "
        "parameter counts are reported beside it."
    ),
    paper=_paper_text("cnf_width_vs_nf_depth"),
    tables=(DENSITY,),
    needs=(
        min_seeds(DENSITY, model=("cnf", "nf")),
        trained_to_convergence(DENSITY, ("target", "model", "capacity"), model=("cnf", "nf")),
    ),
)
def _cnf_width_vs_nf_depth(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    frame = tables(DENSITY, ["target", "model", "capacity", *KL])
    tables.rows(DENSITY, model="cnf")  # names the file when the CNF rows are absent
    tables.rows(DENSITY, model="nf")
    targets = sorted(frame["target"].unique())
    verdicts: dict[str, list[str]] = {part: [] for part in PARTS}
    comparisons: list[Comparison] = []
    flat, top, params = [], None, ""
    for target in targets:
        rows = frame[frame["target"] == target]
        cnf = rows[rows["model"] == "cnf"].sort_values("capacity")
        nf = rows[rows["model"] == "nf"].sort_values("capacity")
        shared = sorted(set(cnf["capacity"]) & set(nf["capacity"]))
        if cnf["capacity"].nunique() < 2 or nf["capacity"].nunique() < 2 or not shared:
            raise Untested(
                f"{tables.directory / DENSITY}: target={target} needs two CNF and two NF "
                "capacities and one capacity shared by both"
            )
        kl_cnf = {int(r["capacity"]): summary(r, *KL) for _, r in cnf.iterrows()}
        kl_nf = {int(r["capacity"]): summary(r, *KL) for _, r in nf.iterrows()}
        widths, depths = sorted(kl_cnf), sorted(kl_nf)
        width = compare_above(kl_cnf[widths[0]], kl_cnf[widths[-1]],
                              f"{target}: CNF M = {widths[0]} minus M = {widths[-1]}")  # fmt: skip
        steps = [
            compare_above(kl_nf[k], kl_nf[deeper], f"{target}: NF K = {k} minus K = {deeper}")
            for k, deeper in zip(depths, depths[1:], strict=False)
        ]
        top = int(shared[-1])
        better = compare_above(kl_nf[top], kl_cnf[top], f"{target}: NF minus CNF at {top}")
        verdicts["width"].append(width.verdict)
        verdicts["depth"].append(all_of(s.verdict for s in steps))
        verdicts["better"].append(better.verdict)
        comparisons += [width, *steps, better]
        flat += [
            f"{target} K = {k} → {deeper} ({_g(kl_nf[k].mean)} → {_g(kl_nf[deeper].mean)})"
            for k, deeper in zip(depths, depths[1:], strict=False)
            if kl_nf[deeper].mean >= kl_nf[k].mean
        ]
        if not params:
            params = (
                f"params at capacity {' / '.join(str(c) for c in shared)}: CNF {_params(cnf)}, "
                f"NF {_params(nf)}"
            )
    parts = {part: _part(v) for part, v in verdicts.items()}
    if NOT_REPRODUCED in parts.values():
        verdict = NOT_REPRODUCED
    elif all(v == REPRODUCED for v in parts.values()):
        verdict = REPRODUCED
    else:
        verdict = INCONCLUSIVE
    n = len(targets)
    shown = {part: v.count(REPRODUCED) for part, v in verdicts.items()}
    measured = (
        f"width helps the CNF on {shown['width']}/{n} targets; depth helps the NF at every "
        f"step on {shown['depth']}/{n}; CNF better at K = M = {top} on {shown['better']}/{n}; "
        f"{params}"
    )
    evidence = "; ".join(f"{c} ({c.verdict})" for c in comparisons)
    if flat:
        evidence = f"the NF's KL does not fall from {', '.join(flat)}; " + evidence
    evidence += (
        f"; {params}: K = M is not equal parameters. Training length: the table's "
        "iterations (the paper: CNF 10,000 Adam, NF 500,000 RMSprop iterations)"
    )
    sensitivity = ", ".join(
        f"{part} {parts[part]} ({shown[part]}/{n} shown, {verdicts[part].count(NOT_REPRODUCED)}"
        f"/{n} contradicted)"
        for part in PARTS
    )
    return Finding(measured, verdict, evidence, most_seeds(comparisons), sensitivity)


LIKELIHOOD = registry.CNF_MAX_LIKELIHOOD.csv
NLL = ("test_nll_mean", "test_nll_std", "n_seeds")


@claim(
    "cnf_two_moons_likelihood",
    origin=PAPER,
    statement="Trained by maximum likelihood, a CNF fits two moons and two circles better "
    "than an NF (Figure 5).",
    metric="test negative log-likelihood per data set of Figure 5 (mean over seeds)",
    rule=(
        f"Per data set of Figure 5: the {LEVEL:.0%} Welch interval of NF minus CNF test NLL. "
        "Reproduced if above zero on every data set, not reproduced if below zero on any, "
        "inconclusive otherwise."
    ),
    paper=_paper_text("cnf_two_moons_likelihood"),
    tables=(LIKELIHOOD,),
    needs=(
        min_seeds(LIKELIHOOD, model=("cnf", "nf")),
        trained_to_convergence(LIKELIHOOD, ("dataset", "model"), model=("cnf", "nf")),
    ),
)
def _cnf_two_moons_likelihood(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    datasets = reference_value(reference, "claims", "cnf_two_moons_likelihood", "datasets")
    comparisons, measured, params = [], [], []
    for dataset in datasets:
        nf = tables.row(LIKELIHOOD, NLL, dataset=dataset, model="nf")
        cnf = tables.row(LIKELIHOOD, NLL, dataset=dataset, model="cnf")
        nf_nll, cnf_nll = summary(nf, *NLL), summary(cnf, *NLL)
        comparisons.append(compare_above(nf_nll, cnf_nll, f"{dataset}: NF minus CNF", " nats"))
        measured.append(f"{dataset}: NF {nf_nll.describe()} vs CNF {cnf_nll.describe()}")
        if "params_mean" in nf and "params_mean" in cnf:
            params.append(f"{dataset}: CNF {int(cnf['params_mean'])}, NF {int(nf['params_mean'])}")
    text = "test NLL: " + "; ".join(measured)
    if params:
        text += f"; params {'; '.join(params)}"
    evidence = "; ".join(f"{c} ({c.verdict})" for c in comparisons)
    sensitivity = "; ".join(f"{c.label.split(':')[0]}: {c.sensitivity}" for c in comparisons)
    return Finding(
        text, all_of(c.verdict for c in comparisons), evidence, most_seeds(comparisons),
        sensitivity,
    )  # fmt: skip


TRACE = registry.TRACE_ESTIMATOR.csv

#: The exact trace's cost must grow at least this much over the measured D, or its trace
#: work is hidden under the fixed per-evaluation cost (solver, hypernetwork, Python) and
#: the run cannot show how the two estimators scale.
EXACT_GROWTH_MIN = 4.0
#: A dimension shows the trace's work when the exact trace costs at least this multiple of
#: its cost at the smallest D (taken as the fixed per-evaluation cost): there the trace's
#: work is at least as large as the fixed cost.
SHOWS_TRACE = 2.0
#: Exponent of the exact/Hutchinson cost ratio on D: 1 in theory (D² over D). A fixed
#: cost shared by both only lowers it, so ≥ 0.5 (a saving growing at least as √D) is a
#: conservative reading of "linear instead of quadratic".
RATIO_EXPONENT = 0.5


def _trace_costs(tables: Tables) -> tuple[pd.DataFrame, str]:
    """Cost per D of the exact and Hutchinson estimators (columns exact, hutchinson)."""
    frame = tables(TRACE, ["dim", "estimator", "seconds_per_step"])
    compared = frame[frame["estimator"].isin(["exact", "hutchinson"])]
    # Per evaluation where every compared row has one: the two estimators' solves take
    # different NFE, and the claim is about the cost of one evaluation's trace.
    per_eval = "seconds_per_nfe" in compared and bool(compared["seconds_per_nfe"].gt(0).all())
    column = "seconds_per_nfe" if per_eval else "seconds_per_step"
    costs = {}
    for estimator in ("exact", "hutchinson"):
        rows = tables.rows(TRACE, estimator=estimator).dropna(subset=[column])
        costs[estimator] = rows.groupby("dim")[column].mean()
    table = pd.DataFrame(costs).dropna().sort_index()
    return table, "seconds per evaluation" if per_eval else "seconds per step"


def decide_trace(costs: pd.DataFrame) -> tuple[str, dict[tuple[int, int], float], list[int], str]:
    """The trace claim's verdict from a cost table (index D; columns exact, hutchinson).

    Returns (verdict, exponent of the exact/Hutchinson cost ratio per window of
    consecutive D that show the trace's work, those D, why untested or "").
    """
    dims = [int(d) for d in costs.index]
    if len(dims) < 3:
        return UNTESTED, {}, [], f"fewer than 3 D measured for both estimators ({dims})"
    exact = costs["exact"]
    growth = float(exact.iloc[-1] / exact.iloc[0])
    if growth < EXACT_GROWTH_MIN:
        why = (
            f"the exact trace's cost rises only ×{_g(growth)} from D = {dims[0]} to {dims[-1]} "
            f"(needs ×{EXACT_GROWTH_MIN:g}): its fixed per-evaluation cost hides the trace's work"
        )
        return UNTESTED, {}, [], why
    shows = [d for d in dims if exact.loc[d] >= SHOWS_TRACE * exact.iloc[0]]
    shows = dims[dims.index(shows[0]) :]  # consecutive from the first D that shows the trace
    if len(shows) < 2:
        return UNTESTED, {}, shows, f"only D = {shows} shows the trace's work above the fixed cost"
    ratio = np.log(costs["exact"] / costs["hutchinson"])
    exponents = {}
    for i in range(len(shows)):
        for j in range(i + 1, len(shows)):
            window = shows[i : j + 1]
            exponents[(window[0], window[-1])] = loglog_slope(window, np.exp(ratio.loc[window]))
    if all(e >= RATIO_EXPONENT for e in exponents.values()):
        verdict = REPRODUCED
    elif all(e < RATIO_EXPONENT for e in exponents.values()):
        verdict = NOT_REPRODUCED
    else:
        verdict = INCONCLUSIVE
    return verdict, exponents, shows, ""


@claim(
    "hutchinson_linear_in_dim",
    origin=FFJORD,
    statement="Hutchinson's trace estimator saves a CNF step more the larger the dimension D "
    "(FFJORD: its cost is O(D) against the exact trace's O(D²); tested as the saving's growth "
    "in D, not as either exponent).",
    metric="log-log slope on D of the exact trace's cost over Hutchinson's (seconds per "
    "function evaluation, else per step); 1 in theory",
    rule=(
        "The saving the claim implies, exact O(D²) over Hutchinson O(D), grows as D¹. The fixed "
        "per-evaluation cost is taken as the exact trace's cost at the smallest D; only D where "
        f"the exact trace costs at least ×{SHOWS_TRACE:g} that show the trace's work. Over every "
        "window of consecutive such D, the least-squares slope of log(exact / Hutchinson cost) "
        f"on log D: reproduced if ≥ {RATIO_EXPONENT} in every window, not reproduced if below "
        "in every window, inconclusive if the windows disagree (the verdict would depend on the "
        f"window). Untested if the exact trace's cost grows less than ×{EXACT_GROWTH_MIN:g} over "
        "the measured D, or fewer than three D are measured."
    ),
    paper=_paper_text("hutchinson_linear_in_dim"),
    tables=(TRACE,),
)
def _hutchinson_linear_in_dim(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    costs, unit = _trace_costs(tables)
    verdict, exponents, shows, why = decide_trace(costs)
    if why:
        raise Untested(f"{tables.directory / TRACE}: {why}")
    dims = [int(d) for d in costs.index]
    ratio = costs["exact"] / costs["hutchinson"]
    low, high = min(exponents.values()), max(exponents.values())
    measured = (
        f"exact over Hutchinson, {unit}: ×{_g(ratio.iloc[0])} at D = {dims[0]} → "
        f"×{_g(ratio.iloc[-1])} at D = {dims[-1]}; log-log slope of the ratio on D from "
        f"{shows[0]} to {shows[-1]}: {_g(low)} to {_g(high)} over {len(exponents)} windows "
        "(1 in theory)"
    )
    exact, hutchinson = costs["exact"], costs["hutchinson"]
    fixed = float(exact.iloc[0])
    marginal = exact.loc[shows] - fixed
    windows = ", ".join(f"{a}–{b}: {_g(e)}" for (a, b), e in exponents.items())
    evidence = (
        f"fixed per-evaluation cost taken as the exact trace's at D = {dims[0]}: "
        f"{_g(1e3 * fixed)} ms; D showing the trace's work: {shows}; ratio's exponent per "
        f"window {windows}; over all D from {dims[0]}: "
        f"{_g(loglog_slope(dims, ratio))}. The exact trace's cost above the fixed cost grows "
        f"as D^{_g(loglog_slope(shows, marginal))} over {shows[0]}–{shows[-1]} (between its "
        "per-vector-Jacobian-product overhead, linear, and its arithmetic, quadratic). "
        f"Hutchinson's cost rises ×{_g(hutchinson.iloc[-1] / hutchinson.iloc[0])} from D = "
        f"{dims[0]} to {dims[-1]}, mostly its fixed cost, so its own exponent is not measured "
        f"at these D. Raw log-log slopes of cost on D (fixed cost not separated): exact "
        f"{_g(loglog_slope(dims, exact))}, Hutchinson {_g(loglog_slope(dims, hutchinson))} "
        f"over all D; {_g(loglog_slope(dims[-2:], exact.iloc[-2:]))} and "
        f"{_g(loglog_slope(dims[-2:], hutchinson.iloc[-2:]))} between the two largest"
    )
    sensitivity = (
        f"the windows' exponents span {_g(low)} to {_g(high)}: the verdict holds for any "
        f"threshold ≤ {_g(low)} (rule {RATIO_EXPONENT}) and any choice of window among them"
    )
    return Finding(measured, verdict, evidence, sensitivity=sensitivity)


#: Fresh noise "explodes" the solver's work: at least this many times the NFE of noise
#: held fixed over the solve, for every seed. The dynamics with fresh noise are not
#: smooth in t, and a work ratio this large is no seed-to-seed spread of a smooth solve.
FRESH_NOISE_FACTOR = 4.0


@claim(
    "hutchinson_noise_fixed_per_solve",
    origin=OURS,
    statement="Hutchinson's noise must be held fixed over a solve: drawn afresh at every "
    "function evaluation, it makes the dynamics rough in t and the adaptive solver's work "
    "explodes.",
    metric="forward NFE of a CNF training step, Hutchinson with fresh noise per evaluation vs "
    "noise fixed per solve, by D",
    rule=(
        "Per D: reproduced if the fresh-noise solve exhausts its step budget on every seed, or "
        f"takes at least ×{FRESH_NOISE_FACTOR:g} the NFE of fixed noise on every seed (smallest "
        "fresh seed against the largest fixed one, both bounded from mean, std and n by "
        f"Samuelson's inequality); not reproduced if every fresh seed takes less than "
        f"×{FRESH_NOISE_FACTOR:g} every fixed one. Reproduced if it holds at every D, not "
        "reproduced if it fails at any, inconclusive otherwise."
    ),
    paper=_paper_text("hutchinson_noise_fixed_per_solve"),
    tables=(TRACE,),
    needs=(
        has_rows(
            TRACE,
            "a Hutchinson arm with fresh noise per evaluation (hutchinson_fresh)",
            f"{TRACE} has no hutchinson_fresh rows",
            estimator="hutchinson_fresh",
        ),
    ),  # fmt: skip
)
def _hutchinson_noise_fixed(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    frame = tables(TRACE, ["dim", "estimator", "nfe", "nfe_std", "n_seeds"])
    verdicts, parts, factors = [], [], []
    for dim in sorted(frame["dim"].unique()):
        rows = frame[frame["dim"] == dim]
        fixed_rows = rows[(rows["estimator"] == "hutchinson") & (rows["n_seeds"] > 0)]
        fresh_rows = rows[rows["estimator"] == "hutchinson_fresh"]
        if fixed_rows.empty or fresh_rows.empty:
            continue
        fixed, fresh = _nfe(fixed_rows.iloc[0]), fresh_rows.iloc[0]
        failed = int(fresh.get("n_failed", 0) or 0)
        if int(fresh["n_seeds"]) == 0 and failed > 0:
            verdicts.append(REPRODUCED)
            detail = str(fresh.get("failure", "") or "").split(";")[0]
            parts.append(
                f"D = {int(dim)}: fixed {fixed.describe()}; fresh exhausted the step budget on "
                f"all {failed} seeds ({detail})"
            )
            continue
        fresh_nfe = _nfe(fresh)
        least = fresh_nfe.seed_bounds()[0] / fixed.seed_bounds()[1]
        most = fresh_nfe.seed_bounds()[1] / fixed.seed_bounds()[0]
        factors.append(least)
        if least >= FRESH_NOISE_FACTOR:
            verdicts.append(REPRODUCED)
        elif most < FRESH_NOISE_FACTOR and failed == 0:
            verdicts.append(NOT_REPRODUCED)
        else:
            verdicts.append(INCONCLUSIVE)
        parts.append(
            f"D = {int(dim)}: fixed {fixed.describe()}, fresh {fresh_nfe.describe()}, every "
            f"seed ≥ ×{_g(least, 2)}" + (f" ({failed} fresh seeds failed)" if failed else "")
        )
    if not verdicts:
        raise Untested(f"{tables.directory / TRACE}: no D with both Hutchinson arms")
    measured = "forward NFE per step: " + "; ".join(parts)
    sensitivity = (
        f"the smallest per-seed factor is ×{_g(min(factors), 2)}: holds for any factor ≤ that "
        f"(rule ×{FRESH_NOISE_FACTOR:g})"
        if factors
        else "fresh noise exhausted the step budget at every D"
    )
    evidence = (
        f"{measured}. FFJORD (arXiv:1810.01367, Section 3.1) draws the noise once per solve; "
        "this measures what happens otherwise"
    )
    return Finding(measured, all_of(verdicts), evidence, sensitivity=sensitivity)


def _nfe(row: pd.Series) -> Summary:
    return Summary(float(row["nfe"]), float(row["nfe_std"]), int(row["n_seeds"]))
