"""The MNIST claims: Table 1, memory scaling, and Figure 3 with its solver studies.

Table 1: the ODE-Net against the ResNet, the RK-Net and the stem alone. Memory: the
adjoint's activation memory against direct backpropagation's and the ResNet's.
Figure 3 and the solver studies: work precision, time against NFE, backward against
forward NFE, NFE over training, and loosening the tolerance at test time. Each
claim's thresholds sit beside it, with why they are what they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

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
    _missing,
    _paper_text,
    claim,
    loglog_slope,
    not_worse,
    reference_value,
    summary,
    welch_difference,
    within_margin,
)

# -- Table 1 --------------------------------------------------------------------------

TABLE1 = registry.TABLE1.csv
ERROR = ("test_error_pct_mean", "test_error_pct_std", "n_seeds")

#: "Close" test errors: within this fraction of the reference arm's mean error. The
#: paper calls 0.42% vs 0.41% (ODE-Net vs ResNet) and 0.47% vs 0.42% (RK-Net vs
#: ODE-Net) alike, differences of up to about a quarter of the error.
ERROR_MARGIN = 0.25
#: "About a third of the parameters": the paper's ratio is 0.22 M / 0.60 M = 0.37.
PARAMS_RATIO_BOUNDS = (0.2, 0.5)


def _odenet_row(tables: Tables, reference: Mapping[str, Any], tol: float | None = None):
    """The ODE-Net at ``tol``, else at the paper's tolerance, else at the tightest trained."""
    if tol is None:
        tol = float(reference_value(reference, "tolerances", "classification"))
        odenets = tables.rows(TABLE1, [*ERROR, "tol"], model="odenet")
        trained = pd.to_numeric(odenets["tol"])
        if not np.isclose(trained, tol).any():
            tol = float(trained.min())
    return tables.row(TABLE1, ERROR, model="odenet", tol=tol)


def _paper_error(reference: Mapping[str, Any], model: str) -> float:
    return float(reference_value(reference, "table1_mnist", "models", model, "test_error_pct"))


def _paper_params(reference: Mapping[str, Any], model: str) -> float:
    return float(reference_value(reference, "table1_mnist", "models", model, "params"))


def _arm(row: pd.Series, reference: Mapping[str, Any]) -> str:
    """``ODE-Net (tol 0.001)``: the paper's label of the row's model, with its tolerance."""
    label = (reference["table1_mnist"]["models"].get(row["model"]) or {}).get("label", row["model"])
    return label if _missing(row.get("tol")) else f"{label} (tol {_g(row['tol'])})"


@claim(
    "odenet_matches_resnet",
    statement="An ODE-Net reaches the test error of a ResNet with about a third of its parameters.",
    metric="MNIST test error % (mean over seeds); parameter count",
    rule=(
        f"Not reproduced if the ODE-Net/ResNet parameter ratio is outside "
        f"[{PARAMS_RATIO_BOUNDS[0]}, {PARAMS_RATIO_BOUNDS[1]}]; otherwise reproduced if the "
        f"{LEVEL:.0%} Welch interval of ODE-Net minus ResNet test error lies below "
        f"+{ERROR_MARGIN:.0%} of the ResNet's error, not reproduced if it lies wholly above, "
        "inconclusive otherwise (ODE-Net at the paper's tolerance, else the tightest trained)."
    ),
    paper=lambda r: (
        f"ODE-Net {_paper_error(r, 'odenet')}% vs ResNet {_paper_error(r, 'resnet')}%; "
        f"params {_g(_paper_params(r, 'odenet') / 1e6, 2)} M / "
        f"{_g(_paper_params(r, 'resnet') / 1e6, 2)} M = "
        f"{_g(_paper_params(r, 'odenet') / _paper_params(r, 'resnet'), 2)}"
    ),
)
def _odenet_matches_resnet(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    odenet = _odenet_row(tables, reference)
    resnet = tables.row(TABLE1, ERROR, model="resnet")
    tables(TABLE1, ["params"])
    ratio = float(odenet["params"]) / float(resnet["params"])
    ours, theirs = summary(odenet, *ERROR), summary(resnet, *ERROR)
    diff = welch_difference(ours, theirs)
    margin = ERROR_MARGIN * theirs.mean
    measured = (
        f"{_arm(odenet, reference)} {ours.describe('%')} vs ResNet {theirs.describe('%')}; "
        f"params {odenet['params']} / {resnet['params']} = {_g(ratio, 2)}"
    )
    low, high = PARAMS_RATIO_BOUNDS
    if not low <= ratio <= high:
        verdict = NOT_REPRODUCED
    else:
        verdict = not_worse(diff, margin)
    evidence = f"ODE-Net minus ResNet: {diff} pp; margin +{_g(margin)} pp; params ratio {_g(ratio)}"
    return Finding(measured, verdict, evidence)


@claim(
    "rknet_matches_odenet",
    statement="An RK-Net (backpropagation through the solver) and an ODE-Net (adjoint) "
    "reach similar test error.",
    metric="MNIST test error % (mean over seeds)",
    rule=(
        f"Reproduced if the {LEVEL:.0%} Welch interval of ODE-Net minus RK-Net test error "
        f"(same training tolerance) lies within ±{ERROR_MARGIN:.0%} of the RK-Net's error, "
        "not reproduced if it lies wholly outside, inconclusive otherwise."
    ),
    paper=lambda r: f"ODE-Net {_paper_error(r, 'odenet')}% vs RK-Net {_paper_error(r, 'rknet')}%",
)
def _rknet_matches_odenet(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    rknet = tables.row(TABLE1, [*ERROR, "tol"], model="rknet")
    odenet = _odenet_row(tables, reference, tol=float(rknet["tol"]))
    ours, theirs = summary(odenet, *ERROR), summary(rknet, *ERROR)
    diff = welch_difference(ours, theirs)
    margin = ERROR_MARGIN * theirs.mean
    arms = _arm(odenet, reference), _arm(rknet, reference)
    measured = f"{arms[0]} {ours.describe('%')} vs {arms[1]} {theirs.describe('%')}"
    evidence = f"ODE-Net minus RK-Net: {diff} pp; margin ±{_g(margin)} pp"
    return Finding(measured, within_margin(diff, margin), evidence)


@claim(
    "stem_alone_matches_odenet",
    statement="The network without its ODE block (downsampling stem and head only) reaches "
    "an error comparable to the ODE-Net's: the ablation the paper lacks.",
    metric="MNIST test error % (mean over seeds)",
    rule=(
        f"Reproduced if the {LEVEL:.0%} Welch interval of stem-only minus ODE-Net test error "
        f"lies below +{ERROR_MARGIN:.0%} of the ODE-Net's error, not reproduced if it lies "
        "wholly above, inconclusive otherwise."
    ),
    paper=_paper_text("stem_alone_matches_odenet"),
)
def _stem_alone_matches_odenet(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    stem = tables.row(TABLE1, ERROR, model="stem")
    odenet = _odenet_row(tables, reference)
    ours, theirs = summary(stem, *ERROR), summary(odenet, *ERROR)
    diff = welch_difference(ours, theirs)
    margin = ERROR_MARGIN * theirs.mean
    measured = f"stem only {ours.describe('%')} vs {_arm(odenet, reference)} {theirs.describe('%')}"
    evidence = f"stem minus ODE-Net: {diff} pp; margin +{_g(margin)} pp"
    return Finding(measured, not_worse(diff, margin), evidence)


# -- Memory ---------------------------------------------------------------------------

MEMORY = registry.MEMORY_SCALING.csv

#: Activation memory "constant" in depth: grows by at most this factor over the depths.
CONSTANT_GROWTH = 1.1
#: Memory "grows with depth": by at least this fraction of the depth's own growth.
LINEAR_GROWTH_SHARE = 0.5


def _paper_memory(reference: Mapping[str, Any], model: str) -> str:
    return str(reference_value(reference, "table1_mnist", "models", model, "memory"))


@claim(
    "memory_scaling",
    statement="The adjoint's activation memory is constant in the number of solver steps; "
    "backpropagating through the solver grows with NFE, and a ResNet's with its depth.",
    metric="bytes of tensors saved for backward in one training step, against depth",
    rule=(
        f"Over the measured depths: reproduced if the adjoint's bytes grow by at most "
        f"×{CONSTANT_GROWTH} while direct's and the ResNet's grow by at least "
        f"{LINEAR_GROWTH_SHARE:.0%} of the depth's growth factor; not reproduced otherwise; "
        "inconclusive with fewer than two depths."
    ),
    paper=lambda r: (
        f"adjoint (ODE-Net) {_paper_memory(r, 'odenet')}, direct (RK-Net) "
        f"{_paper_memory(r, 'rknet')}, ResNet {_paper_memory(r, 'resnet')}"
    ),
)
def _memory_scaling(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    growth, depth_growth, parts = {}, {}, []
    for method in ("adjoint", "direct", "resnet"):
        rows = tables.rows(MEMORY, ["depth", "activation_bytes"], method=method)
        rows = rows.sort_values("depth")
        if rows["depth"].nunique() < 2:
            raise Inconclusive(f"{tables.directory / MEMORY} has one depth for method={method}")
        first, last = rows.iloc[0], rows.iloc[-1]
        growth[method] = float(last["activation_bytes"]) / float(first["activation_bytes"])
        depth_growth[method] = float(last["depth"]) / float(first["depth"])
        parts.append(
            f"{method} ×{_g(growth[method])} (depth {first['depth']} → {last['depth']}, "
            f"{_g(first['activation_bytes'] / 2**20)} → {_g(last['activation_bytes'] / 2**20)} MiB)"
        )
    need = {m: LINEAR_GROWTH_SHARE * depth_growth[m] for m in ("direct", "resnet")}
    holds = growth["adjoint"] <= CONSTANT_GROWTH and all(growth[m] >= need[m] for m in need)
    measured = "; ".join(parts)
    evidence = (
        f"growth of activation bytes over the depths: adjoint ×{_g(growth['adjoint'])} "
        f"(at most ×{CONSTANT_GROWTH}), direct ×{_g(growth['direct'])} (at least "
        f"×{_g(need['direct'])}), ResNet ×{_g(growth['resnet'])} (at least ×{_g(need['resnet'])})"
    )
    return Finding(measured, REPRODUCED if holds else NOT_REPRODUCED, evidence)


# -- Figure 3 and the solver studies --------------------------------------------------

WORK_PRECISION = registry.WORK_PRECISION.csv


def _dopri5_sweeps(tables: Tables, columns: Iterable[str]) -> dict[float, pd.DataFrame]:
    """The dopri5 rows of work_precision.csv per training tolerance, by test-time tolerance."""
    rows = tables.rows(WORK_PRECISION, ["train_tol", "tol_or_steps", *columns], solver="dopri5")
    return {
        float(tol): group.sort_values("tol_or_steps") for tol, group in rows.groupby("train_tol")
    }


@claim(
    "error_falls_with_nfe",
    statement="The numerical error of the ODE block's solve falls as the solver spends more "
    "function evaluations (Figure 3a).",
    metric="relative error of the block's output against a tight reference solve, vs forward NFE",
    rule=(
        "For dopri5 over test-time tolerances, per training tolerance: the least-squares slope "
        "of log error on log NFE. Reproduced if negative for every training tolerance, not "
        "reproduced if any is ≥ 0, inconclusive with fewer than three distinct NFE values."
    ),
    paper=_paper_text("error_falls_with_nfe"),
)
def _error_falls_with_nfe(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    slopes = {}
    for train_tol, rows in _dopri5_sweeps(tables, ["nfe_forward", "error"]).items():
        if rows["nfe_forward"].nunique() < 3:
            raise Inconclusive(
                f"{tables.directory / WORK_PRECISION}: fewer than 3 distinct NFE for "
                f"solver=dopri5, train_tol={_g(train_tol)}"
            )
        slopes[train_tol] = loglog_slope(rows["nfe_forward"], rows["error"])
    verdict = REPRODUCED if all(s < 0 for s in slopes.values()) else NOT_REPRODUCED
    measured = "; ".join(f"trained at {_g(t)}: slope {_g(s)}" for t, s in slopes.items())
    ranges = "; ".join(
        f"trained at {_g(t)}: NFE {_g(rows['nfe_forward'].iloc[-1])} → "
        f"{_g(rows['nfe_forward'].iloc[0])}, error {_g(rows['error'].iloc[-1])} → "
        f"{_g(rows['error'].iloc[0])}"
        for t, rows in _dopri5_sweeps(tables, ["nfe_forward", "error"]).items()
    )
    return Finding(measured, verdict, f"log-log slopes of error on NFE; {ranges}")


TIME_VS_NFE = registry.TIME_VS_NFE.csv

#: Time "proportional" to NFE: least-squares line with at least this R^2 ...
MIN_R2 = 0.95
#: ... and an intercept at most this share of the fitted time at the largest NFE.
MAX_INTERCEPT_SHARE = 0.1


@claim(
    "time_proportional_to_nfe",
    statement="The time of a forward solve is proportional to its number of function "
    "evaluations (Figure 3b).",
    metric="least-squares line of solve seconds on forward NFE, per solver and training tol",
    rule=(
        f"Reproduced if every line has R² ≥ {MIN_R2} and (where the table gives nfe_max) an "
        f"intercept of at most {MAX_INTERCEPT_SHARE:.0%} of the fitted time at the largest NFE; "
        "not reproduced otherwise."
    ),
    paper=_paper_text("time_proportional_to_nfe"),
)
def _time_proportional_to_nfe(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    fits = tables(
        TIME_VS_NFE, ["train_tol", "solver", "seconds_per_nfe", "intercept_seconds", "r2"]
    )
    if fits.empty:
        raise Inconclusive(f"{tables.directory / TIME_VS_NFE} has no rows")
    worst_r2 = fits.loc[fits["r2"].idxmin()]
    holds = bool((fits["r2"] >= MIN_R2).all())
    evidence = (
        f"lowest R² {_g(worst_r2['r2'], 4)} ({worst_r2['solver']}, trained at "
        f"{_g(worst_r2['train_tol'])}) over {len(fits)} lines"
    )
    if "nfe_max" in fits:
        top = fits["seconds_per_nfe"] * fits["nfe_max"] + fits["intercept_seconds"]
        share = (fits["intercept_seconds"].abs() / top).max()
        holds = holds and share <= MAX_INTERCEPT_SHARE
        evidence += f"; largest |intercept| / fitted time at nfe_max: {_g(share, 2)}"
    else:
        evidence += "; no nfe_max column: intercept not checked"
    dopri5 = fits[fits["solver"] == "dopri5"]
    measured = (
        "; ".join(
            f"dopri5 trained at {_g(r['train_tol'])}: {_g(1e3 * r['seconds_per_nfe'])} ms per "
            f"evaluation, R² {_g(r['r2'], 4)}"
            for _, r in dopri5.iterrows()
        )
        or f"{len(fits)} lines, lowest R² {_g(worst_r2['r2'], 4)}"
    )
    return Finding(measured, REPRODUCED if holds else NOT_REPRODUCED, evidence)


BACKWARD = registry.NFE_BACKWARD_VS_FORWARD.csv

#: Backward/forward NFE "about" the paper's ratio: within this absolute distance.
NFE_RATIO_TOLERANCE = 0.15


def _ratio(rows: pd.DataFrame) -> float:
    """Backward over forward NFE, every step weighted by how often it occurred."""
    weight = rows["count"]
    return float((rows["nfe_backward"] * weight).sum() / (rows["nfe_forward"] * weight).sum())


@claim(
    "backward_nfe_half_forward",
    statement="The adjoint's backward pass needs about half the function evaluations of the "
    "forward pass (Figure 3c).",
    metric="backward over forward NFE of dopri5 training steps (count-weighted)",
    rule=(
        f"Per training tolerance, the ratio of count-weighted backward to forward NFE over the "
        f"training steps. Reproduced if every ratio is within ±{NFE_RATIO_TOLERANCE} of the "
        "paper's, not reproduced if none is, inconclusive otherwise."
    ),
    paper=lambda r: (
        f"backward/forward ≈ {reference_value(r, 'claims', 'backward_nfe_half_forward', 'ratio')}"
        f" ({reference_value(r, 'claims', 'backward_nfe_half_forward', 'paper')})"
    ),
)
def _backward_nfe_half_forward(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    target = float(reference_value(reference, "claims", "backward_nfe_half_forward", "ratio"))
    columns = ["train_tol", "nfe_forward", "nfe_backward", "count"]
    training = tables.rows(BACKWARD, columns, source="training", solver="dopri5")
    ratios = {float(t): _ratio(g) for t, g in training.groupby("train_tol")}
    close = [abs(r - target) <= NFE_RATIO_TOLERANCE for r in ratios.values()]
    verdict = REPRODUCED if all(close) else NOT_REPRODUCED if not any(close) else INCONCLUSIVE
    measured = "; ".join(f"trained at {_g(t)}: {_g(r)}" for t, r in ratios.items())
    evidence = f"dopri5 training steps, backward/forward NFE: {measured}"
    frame = tables(BACKWARD)
    probes = frame[frame["source"] == "probe"]
    if not probes.empty:
        probe_ratios = "; ".join(
            f"{solver} trained at {_g(t)}: {_g(_ratio(g))}"
            for (solver, t), g in probes.groupby(["solver", "train_tol"])
        )
        evidence += f"; one-image probes: {probe_ratios}"
    return Finding(measured, verdict, evidence)


OVER_TRAINING = registry.NFE_OVER_TRAINING.csv

#: NFE "rises" during training: last quarter of training at least this factor above the first.
NFE_RISE = 1.1


@claim(
    "nfe_rises_during_training",
    statement="The forward NFE of an ODE-Net rises during training as the dynamics grow "
    "more complex (Figure 3d).",
    metric="forward NFE per batch, first vs last quarter of training",
    rule=(
        f"Per training tolerance: mean forward NFE over the last quarter of training over the "
        f"first quarter's. Reproduced if ≥ {NFE_RISE} for every training tolerance, not "
        "reproduced if below for every one, inconclusive if mixed or with fewer than 4 windows."
    ),
    paper=_paper_text("nfe_rises_during_training"),
)
def _nfe_rises_during_training(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    frame = tables(OVER_TRAINING, ["train_tol", "epoch_position", "nfe_forward"])
    if frame.empty:
        raise Inconclusive(f"{tables.directory / OVER_TRAINING} has no rows")
    rises, parts = [], []
    for train_tol, rows in frame.groupby("train_tol"):
        if len(rows) < 4:
            raise Inconclusive(
                f"{tables.directory / OVER_TRAINING}: fewer than 4 windows for "
                f"train_tol={_g(train_tol)}"
            )
        position = rows["epoch_position"]
        span = position.max() - position.min()
        first = rows.loc[position <= position.min() + span / 4, "nfe_forward"].mean()
        last = rows.loc[position >= position.max() - span / 4, "nfe_forward"].mean()
        rises.append(last / first >= NFE_RISE)
        parts.append(
            f"trained at {_g(float(train_tol))}: {_g(first)} → {_g(last)} "
            f"(×{_g(last / first)}) over {_g(position.max())} epochs"
        )
    verdict = REPRODUCED if all(rises) else NOT_REPRODUCED if not any(rises) else INCONCLUSIVE
    measured = "; ".join(parts)
    return Finding(measured, verdict, f"mean forward NFE, first → last quarter: {measured}")


#: Test-time loosening "costs little": test error rises by at most this many points.
TEST_TIME_MARGIN_PP = 0.5


@claim(
    "test_time_tolerance_tradeoff",
    statement="A network trained at one tolerance can be evaluated at a looser one: fewer "
    "function evaluations at little cost in accuracy.",
    metric="dopri5 forward NFE and test error %, tightest vs loosest test-time tolerance",
    rule=(
        "Per training tolerance, dopri5 at the loosest test-time tolerance against the tightest "
        "(the same networks, so the seeds' spread cancels): reproduced if every loosest takes "
        f"fewer NFE with a mean test error at most {TEST_TIME_MARGIN_PP} points higher, not "
        "reproduced otherwise, inconclusive with a single test-time tolerance."
    ),
    paper=_paper_text("test_time_tolerance_tradeoff"),
)
def _test_time_tolerance_tradeoff(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    holds, parts = [], []
    for train_tol, rows in _dopri5_sweeps(tables, ["nfe_forward", "test_error_pct"]).items():
        if rows["tol_or_steps"].nunique() < 2:
            raise Inconclusive(
                f"{tables.directory / WORK_PRECISION}: one test-time tolerance for "
                f"solver=dopri5, train_tol={_g(train_tol)}"
            )
        tight, loose = rows.iloc[0], rows.iloc[-1]
        rise = float(loose["test_error_pct"] - tight["test_error_pct"])
        holds.append(loose["nfe_forward"] < tight["nfe_forward"] and rise <= TEST_TIME_MARGIN_PP)
        parts.append(
            f"trained at {_g(train_tol)}: tol {_g(tight['tol_or_steps'])} → "
            f"{_g(loose['tol_or_steps'])}, NFE {_g(tight['nfe_forward'])} → "
            f"{_g(loose['nfe_forward'])}, test error {_g(tight['test_error_pct'])}% → "
            f"{_g(loose['test_error_pct'])}%"
        )
    measured = "; ".join(parts)
    return Finding(measured, REPRODUCED if all(holds) else NOT_REPRODUCED, measured)
