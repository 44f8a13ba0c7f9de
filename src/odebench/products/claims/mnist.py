"""The MNIST claims: Table 1, memory scaling, Figure 3 with its solver studies, and what
the probes measure beyond the paper (the adjoint's gradient error, the round trip).

Table 1: the ODE-Net against the ResNet, the RK-Net and the stem alone; these need
trained networks (a share of the paper protocol's epochs) and three seeds per arm.
Memory: the adjoint's activation memory against direct backpropagation's and the
ResNet's. Figure 3 and the solver studies: work precision, time against NFE, backward
against forward NFE (decided on LSODA, the paper's solver family), NFE over training
(needs the paper's training length), and loosening the tolerance at test time. Each
claim's thresholds sit beside it, with why they are what they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from odebench.core import paths
from odebench.products import registry
from odebench.products.claims.verdicts import (
    ABLATION,
    INCONCLUSIVE,
    LEVEL,
    NOT_REPRODUCED,
    OURS,
    PAPER,
    REPRODUCED,
    UNTESTED,
    Finding,
    Summary,
    Tables,
    Untested,
    _g,
    _missing,
    _paper_text,
    claim,
    clopper_pearson,
    compare_not_worse,
    compare_within,
    has_rows,
    loglog_slope,
    min_seeds,
    min_training,
    reference_value,
    summary,
)
from odebench.products.tables.solver_studies import JOINT_BACKENDS, joint_control

# -- Table 1 --------------------------------------------------------------------------

TABLE1 = registry.TABLE1.csv
ERROR = ("test_error_pct_mean", "test_error_pct_std", "n_seeds")

#: "Close" test errors: within this fraction of the reference arm's mean error. The
#: paper calls 0.42% vs 0.41% (ODE-Net vs ResNet) and 0.47% vs 0.42% (RK-Net vs
#: ODE-Net) alike, differences of up to about a quarter of the error.
ERROR_MARGIN = 0.25
#: "About a third of the parameters": the paper's ratio is 0.22 M / 0.60 M = 0.37.
PARAMS_RATIO_BOUNDS = (0.2, 0.5)
#: Share of the paper protocol's epochs a claim about trained networks needs. The
#: protocol (160 epochs) decays the learning rate at epochs 60, 100 and 140; before the
#: first decay the errors are far from converged, and half the protocol is past it and
#: past the best-validation epochs measured at the protocol on a GPU (ResNet 17-27,
#: stem 54-69, DESIGN.md).
TRAINING_SHARE = 0.5
PAPER_BUDGET = "the `paper` budget"


def _table1_needs(claim_id: str, models: tuple[str, ...]):
    """Table 1 claims compare trained networks: enough epochs, three seeds per arm."""
    return (
        min_training(
            TABLE1,
            TRAINING_SHARE,
            ("claims", claim_id, "paper_epochs"),
            "epochs",
            PAPER_BUDGET,
            model=models,
        ),  # fmt: skip
        min_seeds(TABLE1, model=models),
    )


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


def _relative(diff: float, of: Summary, name: str) -> str:
    return f"the difference is {abs(diff) / of.mean:.0%} of the {name}'s error"


@claim(
    "odenet_matches_resnet",
    origin=PAPER,
    statement="An ODE-Net reaches the test error of a ResNet with about a third of its parameters.",
    metric="MNIST test error % (mean over seeds); parameter count",
    rule=(
        f"Not reproduced if the ODE-Net/ResNet parameter ratio is outside "
        f"[{PARAMS_RATIO_BOUNDS[0]}, {PARAMS_RATIO_BOUNDS[1]}] (whatever the training); "
        f"otherwise reproduced if the {LEVEL:.0%} Welch interval of ODE-Net minus ResNet test "
        f"error lies below +{ERROR_MARGIN:.0%} of the ResNet's error, not reproduced if it lies "
        "wholly above, inconclusive otherwise (ODE-Net at the paper's tolerance, else the "
        "tightest trained)."
    ),
    paper=lambda r: (
        f"ODE-Net {_paper_error(r, 'odenet')}% vs ResNet {_paper_error(r, 'resnet')}%; "
        f"params {_g(_paper_params(r, 'odenet') / 1e6, 2)} M / "
        f"{_g(_paper_params(r, 'resnet') / 1e6, 2)} M = "
        f"{_g(_paper_params(r, 'odenet') / _paper_params(r, 'resnet'), 2)}"
    ),
    tables=(TABLE1,),
    needs=_table1_needs("odenet_matches_resnet", ("odenet", "resnet")),
)
def _odenet_matches_resnet(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    odenet = _odenet_row(tables, reference)
    resnet = tables.row(TABLE1, ERROR, model="resnet")
    tables(TABLE1, ["params"])
    ratio = float(odenet["params"]) / float(resnet["params"])
    ours, theirs = summary(odenet, *ERROR), summary(resnet, *ERROR)
    margin = ERROR_MARGIN * theirs.mean
    comparison = compare_not_worse(ours, theirs, margin, "ODE-Net minus ResNet", " pp")
    measured = (
        f"{_arm(odenet, reference)} {ours.describe('%')} vs ResNet {theirs.describe('%')}; "
        f"params {odenet['params']} / {resnet['params']} = {_g(ratio, 2)}"
    )
    low, high = PARAMS_RATIO_BOUNDS
    evidence = (
        f"{comparison}; margin +{_g(margin)} pp ({ERROR_MARGIN:.0%} of the ResNet's error); "
        f"params ratio {_g(ratio)} (bounds [{low}, {high}])"
    )
    if not low <= ratio <= high:
        return Finding(measured, NOT_REPRODUCED, evidence, unconditional=True,
                       sensitivity=f"params ratio {_g(ratio)} outside [{low}, {high}]")  # fmt: skip
    return Finding(
        measured, comparison.verdict, evidence, comparison.seeds_needed,
        f"{comparison.sensitivity}; params ratio {_g(ratio, 2)} inside [{low}, {high}]",
    )  # fmt: skip


@claim(
    "rknet_matches_odenet",
    origin=PAPER,
    statement="An RK-Net (backpropagation through the solver) and an ODE-Net (adjoint) "
    "reach similar test error.",
    metric="MNIST test error % (mean over seeds)",
    rule=(
        f"Reproduced if the {LEVEL:.0%} Welch interval of ODE-Net minus RK-Net test error "
        f"(same training tolerance) lies within ±{ERROR_MARGIN:.0%} of the RK-Net's error, "
        "not reproduced if it lies wholly outside, inconclusive otherwise."
    ),
    paper=lambda r: f"ODE-Net {_paper_error(r, 'odenet')}% vs RK-Net {_paper_error(r, 'rknet')}%",
    tables=(TABLE1,),
    needs=_table1_needs("rknet_matches_odenet", ("odenet", "rknet")),
)
def _rknet_matches_odenet(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    rknet = tables.row(TABLE1, [*ERROR, "tol"], model="rknet")
    odenet = _odenet_row(tables, reference, tol=float(rknet["tol"]))
    ours, theirs = summary(odenet, *ERROR), summary(rknet, *ERROR)
    margin = ERROR_MARGIN * theirs.mean
    comparison = compare_within(ours, theirs, margin, "ODE-Net minus RK-Net", " pp")
    arms = _arm(odenet, reference), _arm(rknet, reference)
    measured = f"{arms[0]} {ours.describe('%')} vs {arms[1]} {theirs.describe('%')}"
    evidence = (
        f"{comparison}; margin ±{_g(margin)} pp ({ERROR_MARGIN:.0%} of the RK-Net's error); "
        f"{_relative(comparison.diff.estimate, theirs, 'RK-Net')}"
    )
    return Finding(
        measured, comparison.verdict, evidence, comparison.seeds_needed, comparison.sensitivity
    )


@claim(
    "stem_alone_matches_odenet",
    origin=ABLATION,
    statement="The network without its ODE block (downsampling stem and head only) reaches "
    "an error comparable to the ODE-Net's: the ablation the paper lacks.",
    metric="MNIST test error % (mean over seeds)",
    rule=(
        f"Reproduced if the {LEVEL:.0%} Welch interval of stem-only minus ODE-Net test error "
        f"lies below +{ERROR_MARGIN:.0%} of the ODE-Net's error, not reproduced if it lies "
        "wholly above, inconclusive otherwise."
    ),
    paper=_paper_text("stem_alone_matches_odenet"),
    tables=(TABLE1,),
    needs=_table1_needs("stem_alone_matches_odenet", ("stem", "odenet")),
)
def _stem_alone_matches_odenet(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    stem = tables.row(TABLE1, ERROR, model="stem")
    odenet = _odenet_row(tables, reference)
    ours, theirs = summary(stem, *ERROR), summary(odenet, *ERROR)
    margin = ERROR_MARGIN * theirs.mean
    comparison = compare_not_worse(ours, theirs, margin, "stem minus ODE-Net", " pp")
    measured = f"stem only {ours.describe('%')} vs {_arm(odenet, reference)} {theirs.describe('%')}"
    evidence = f"{comparison}; margin +{_g(margin)} pp ({ERROR_MARGIN:.0%} of the ODE-Net's error)"
    return Finding(
        measured, comparison.verdict, evidence, comparison.seeds_needed, comparison.sensitivity
    )


# -- Memory ---------------------------------------------------------------------------

MEMORY = registry.MEMORY_SCALING.csv

#: Activation memory "constant" in depth: grows by at most this factor over the depths
#: (10% leaves room for allocator rounding, far below the ×2 of one doubling of depth).
CONSTANT_GROWTH = 1.1
#: Memory "grows with depth": by at least this fraction of the depth's own growth (a
#: ResNet's stem and head are a constant part, so its memory grows less than its depth).
LINEAR_GROWTH_SHARE = 0.5


def _paper_memory(reference: Mapping[str, Any], model: str) -> str:
    return str(reference_value(reference, "table1_mnist", "models", model, "memory"))


@claim(
    "memory_scaling",
    origin=PAPER,
    statement="The adjoint's activation memory is constant in the number of solver steps; "
    "backpropagating through the solver grows with NFE, and a ResNet's with its depth.",
    metric="bytes of tensors saved for backward in one training step, against depth",
    rule=(
        f"Over the measured depths: reproduced if the adjoint's bytes grow by at most "
        f"×{CONSTANT_GROWTH} while direct's and the ResNet's grow by at least "
        f"{LINEAR_GROWTH_SHARE:.0%} of the depth's growth factor; not reproduced otherwise."
    ),
    paper=lambda r: (
        f"adjoint (ODE-Net) {_paper_memory(r, 'odenet')}, direct (RK-Net) "
        f"{_paper_memory(r, 'rknet')}, ResNet {_paper_memory(r, 'resnet')}"
    ),
    tables=(MEMORY,),
    needs=(
        has_rows(
            MEMORY,
            "the three methods at two or more depths",
            f"{MEMORY} lacks a method",
            method=("adjoint", "direct", "resnet"),
        ),
    ),  # fmt: skip
)
def _memory_scaling(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    growth, depth_growth, parts = {}, {}, []
    for method in ("adjoint", "direct", "resnet"):
        rows = tables.rows(MEMORY, ["depth", "activation_bytes"], method=method)
        rows = rows.sort_values("depth")
        if rows["depth"].nunique() < 2:
            raise Untested(f"{tables.directory / MEMORY} has one depth for method={method}")
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
    share = min(growth[m] / depth_growth[m] for m in need)
    sensitivity = (
        f"holds for any limit on the adjoint's growth ≥ ×{_g(growth['adjoint'])} and any "
        f"required share of the depth's growth ≤ {share:.0%} (rule: ×{CONSTANT_GROWTH}, "
        f"{LINEAR_GROWTH_SHARE:.0%})"
    )
    return Finding(measured, REPRODUCED if holds else NOT_REPRODUCED, evidence,
                   sensitivity=sensitivity)  # fmt: skip


# -- Figure 3 and the solver studies --------------------------------------------------

WORK_PRECISION = registry.WORK_PRECISION.csv
#: The sweep's backends the claims read (torchdiffeq's joint step-size control, the paper's).
_JOINT = ", ".join(JOINT_BACKENDS)


def _dopri5_sweeps(tables: Tables, columns: Iterable[str]) -> dict[float, pd.DataFrame]:
    """The dopri5 rows of work_precision.csv with joint step-size control (the paper's, see
    :data:`~odebench.products.tables.solver_studies.JOINT_BACKENDS`) per training
    tolerance, by test-time tolerance."""
    rows = tables.rows(WORK_PRECISION, ["train_tol", "tol_or_steps", *columns], solver="dopri5")
    rows = joint_control(rows)
    if rows.empty:
        raise Untested(
            f"{tables.directory / WORK_PRECISION} has no dopri5 row with joint step-size "
            f"control (backends {_JOINT})"
        )
    return {
        float(tol): group.sort_values("tol_or_steps") for tol, group in rows.groupby("train_tol")
    }


@claim(
    "error_falls_with_nfe",
    origin=PAPER,
    statement="The numerical error of the ODE block's solve falls as the solver spends more "
    "function evaluations (Figure 3a).",
    metric="relative error of the block's output against a tight reference solve, vs forward NFE",
    rule=(
        f"For dopri5 with joint step-size control (backends {_JOINT}) over test-time "
        "tolerances, per training tolerance: the least-squares slope "
        "of log error on log NFE. Reproduced if negative for every training tolerance, not "
        "reproduced if any is ≥ 0."
    ),
    paper=_paper_text("error_falls_with_nfe"),
    tables=(WORK_PRECISION,),
    needs=(
        has_rows(
            WORK_PRECISION,
            "a dopri5 sweep over three or more test-time tolerances",
            f"{WORK_PRECISION} has no dopri5 sweep",
            solver="dopri5",
        ),
    ),  # fmt: skip
)
def _error_falls_with_nfe(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    slopes = {}
    sweeps = _dopri5_sweeps(tables, ["nfe_forward", "error"])
    for train_tol, rows in sweeps.items():
        if rows["nfe_forward"].nunique() < 3:
            raise Untested(
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
        for t, rows in sweeps.items()
    )
    sensitivity = (
        f"the shallowest slope is {_g(max(slopes.values()))}; the verdict flips only at a slope "
        "≥ 0 (error not falling with NFE)"
    )
    return Finding(measured, verdict, f"log-log slopes of error on NFE; {ranges}",
                   sensitivity=sensitivity)  # fmt: skip


TIME_VS_NFE = registry.TIME_VS_NFE.csv

#: Time "proportional" to NFE: least-squares line with at least this R^2 (a line that
#: explains 95% of the variance; timings on a shared CPU scatter by a few percent) ...
MIN_R2 = 0.95
#: ... and an intercept at most this share of the fitted time at the largest NFE (a
#: larger fixed cost would make the time affine, not proportional).
MAX_INTERCEPT_SHARE = 0.1


@claim(
    "time_proportional_to_nfe",
    origin=PAPER,
    statement="The time of a forward solve is proportional to its number of function "
    "evaluations (Figure 3b).",
    metric="least-squares line of solve seconds on forward NFE, per solver and training tol",
    rule=(
        f"Over the lines of the backends with joint step-size control ({_JOINT}): "
        f"reproduced if every line has R² ≥ {MIN_R2} and (where the table gives nfe_max) an "
        f"intercept of at most {MAX_INTERCEPT_SHARE:.0%} of the fitted time at the largest NFE; "
        "not reproduced otherwise."
    ),
    paper=_paper_text("time_proportional_to_nfe"),
    tables=(TIME_VS_NFE,),
)
def _time_proportional_to_nfe(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    fits = tables(
        TIME_VS_NFE, ["train_tol", "solver", "seconds_per_nfe", "intercept_seconds", "r2"]
    )
    fits = joint_control(fits)  # the paper's setting: torchdiffeq's joint step control
    if fits.empty:
        raise Untested(
            f"{tables.directory / TIME_VS_NFE} has no rows with joint step-size control "
            f"(backends {_JOINT})"
        )
    worst_r2 = fits.loc[fits["r2"].idxmin()]
    holds = bool((fits["r2"] >= MIN_R2).all())
    evidence = (
        f"lowest R² {_g(worst_r2['r2'], 4)} ({worst_r2['solver']}, trained at "
        f"{_g(worst_r2['train_tol'])}) over {len(fits)} lines"
    )
    sensitivity = f"holds for any R² threshold ≤ {_g(worst_r2['r2'], 4)} (rule {MIN_R2})"
    if "nfe_max" in fits:
        top = fits["seconds_per_nfe"] * fits["nfe_max"] + fits["intercept_seconds"]
        share = (fits["intercept_seconds"].abs() / top).max()
        holds = holds and share <= MAX_INTERCEPT_SHARE
        evidence += f"; largest |intercept| / fitted time at nfe_max: {_g(share, 2)}"
        sensitivity += (
            f" and any intercept limit ≥ {_g(share, 2)} of the fitted time (rule "
            f"{MAX_INTERCEPT_SHARE})"
        )
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
    return Finding(measured, REPRODUCED if holds else NOT_REPRODUCED, evidence,
                   sensitivity=sensitivity)  # fmt: skip


BACKWARD = registry.NFE_BACKWARD_VS_FORWARD.csv
OVER_TRAINING = registry.NFE_OVER_TRAINING.csv

#: Backward/forward NFE "about" the paper's ratio: within this absolute distance (the
#: paper's Figure 3c scatters around 0.5 by about this much).
NFE_RATIO_TOLERANCE = 0.15
#: The solver family that can show the paper's ratio: the paper solved with LSODE
#: (implicit Adams); scipy's LSODA runs Adams while the problem is not stiff.
MULTISTEP = "lsoda"
#: dopri5 in torchdiffeq spends two evaluations choosing its first step, then six per
#: step (seven stages, the first shared with the previous step): NFE = 2 + 6 k.
DOPRI5_START, DOPRI5_PER_STEP = 2, 6


def _ratio(rows: pd.DataFrame) -> float:
    """Backward over forward NFE, every step weighted by how often it occurred."""
    weight = rows["count"]
    return float((rows["nfe_backward"] * weight).sum() / (rows["nfe_forward"] * weight).sum())


def _dopri5_granularity(rows: pd.DataFrame) -> str:
    """What dopri5's 2 + 6k evaluations allow at the steps the training took."""
    parts = []
    for train_tol, group in rows.groupby("train_tol"):
        top = group.loc[group["count"].idxmax()]
        nfe = int(top["nfe_forward"])
        k = (nfe - DOPRI5_START) / DOPRI5_PER_STEP
        if k != int(k) or k < 1:
            continue
        k = int(k)
        possible = sorted({
            (DOPRI5_START + DOPRI5_PER_STEP * j) / nfe for j in range(1, k + 1)
        })  # fmt: skip
        share = float(top["count"]) / float(group["count"].sum())
        parts.append(
            f"trained at {_g(float(train_tol))}, {share:.0%} of steps at forward NFE {nfe} "
            f"(k = {k}), where the backward solve's 2 + 6k′ evaluations allow "
            f"{', '.join(_g(p, 2) for p in possible)} or more"
        )
    return (
        f"dopri5 spends {DOPRI5_START} + {DOPRI5_PER_STEP}k evaluations for k steps, so at "
        "the 2-3 steps these networks take the ratio only takes a few values: "
        + "; ".join(parts)
        + ". A gradual halving cannot show; the paper used LSODE (implicit Adams)"
    )


def _epochs_tracked(tables: Tables) -> float:
    """Epochs covered by nfe_over_training.csv: the last window's centre plus half a window."""
    positions = np.sort(tables(OVER_TRAINING, ["epoch_position"])["epoch_position"].unique())
    if positions.size == 0:
        raise Untested(f"{tables.directory / OVER_TRAINING} has no rows")
    width = float(np.diff(positions).min()) if positions.size > 1 else 2 * float(positions[0])
    return float(positions[-1]) + width / 2


@claim(
    "backward_nfe_half_forward",
    origin=PAPER,
    statement="The adjoint's backward pass needs about half the function evaluations of the "
    "forward pass (Figure 3c).",
    metric="backward over forward NFE of the adjoint, LSODA probe solves (count-weighted)",
    rule=(
        f"On the {MULTISTEP.upper()} probe (the paper's solver family), per training tolerance: "
        "the ratio of count-weighted backward to forward NFE. Reproduced if every ratio is "
        f"within ±{NFE_RATIO_TOLERANCE} of the paper's, not reproduced if none is, inconclusive "
        "otherwise. dopri5's ratios are reported, not judged: its 2 + 6k evaluations per solve "
        "fix the ratio at the few steps these networks take."
    ),
    paper=lambda r: (
        f"backward/forward ≈ {reference_value(r, 'claims', 'backward_nfe_half_forward', 'ratio')}"
        f" ({reference_value(r, 'claims', 'backward_nfe_half_forward', 'paper')})"
    ),
    tables=(BACKWARD, OVER_TRAINING),
    needs=(
        has_rows(
            BACKWARD,
            f"a {MULTISTEP.upper()} (implicit Adams family) arm of the backward-NFE probe",
            f"no {MULTISTEP.upper()} rows in {BACKWARD}: dopri5 alone cannot show the ratio",
            solver=MULTISTEP,
        ),
        # Figure 3c's points come from the paper's training run: the ratio of networks
        # trained for a few epochs says nothing about it either way.
        min_training(
            OVER_TRAINING,
            TRAINING_SHARE,
            ("claims", "backward_nfe_half_forward", "paper_epochs"),
            "epochs",
            PAPER_BUDGET,
            trained=_epochs_tracked,
        ),
    ),
)
def _backward_nfe_half_forward(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    target = float(reference_value(reference, "claims", "backward_nfe_half_forward", "ratio"))
    columns = ["source", "solver", "train_tol", "nfe_forward", "nfe_backward", "count"]
    frame = tables(BACKWARD, columns)
    training = frame[(frame["source"] == "training") & (frame["solver"] == "dopri5")]
    dopri5 = "; ".join(
        f"trained at {_g(float(t))}: {_g(_ratio(g))}" for t, g in training.groupby("train_tol")
    )
    dopri5_text = (
        f"dopri5 training steps, backward/forward: {dopri5}. {_dopri5_granularity(training)}"
        if not training.empty
        else "no dopri5 training rows"
    )
    multistep = frame[frame["solver"] == MULTISTEP]
    if multistep.empty:
        return Finding(f"dopri5 training steps: {dopri5}", UNTESTED, dopri5_text)
    ratios = {float(t): _ratio(g) for t, g in multistep.groupby("train_tol")}
    images = {float(t): int(g["count"].sum()) for t, g in multistep.groupby("train_tol")}
    close = [abs(r - target) <= NFE_RATIO_TOLERANCE for r in ratios.values()]
    verdict = REPRODUCED if all(close) else NOT_REPRODUCED if not any(close) else INCONCLUSIVE
    measured = "; ".join(
        f"{MULTISTEP.upper()} trained at {_g(t)}: {_g(r)} ({images[t]} one-image solves)"
        for t, r in ratios.items()
    )
    adjoint = ", ".join(sorted(set(multistep.get("adjoint", pd.Series(["?"])).astype(str))))
    evidence = (
        f"{MULTISTEP.upper()} backward/forward NFE, one image per solve, {adjoint} adjoint: "
        f"{'; '.join(f'trained at {_g(t)}: {_g(r)}' for t, r in ratios.items())}. Not the "
        "paper's setting: one image rather than a batch, and the state's adjoint only (LSODA "
        "cannot hold the parameters' adjoint here), on the networks this budget trained. "
        f"{dopri5_text}"
    )
    distance = min(abs(r - target) for r in ratios.values())
    far = max(abs(r - target) for r in ratios.values())
    sensitivity = (
        f"the ratios lie {_g(distance, 2)} to {_g(far, 2)} from {_g(target)}: not reproduced "
        f"for any tolerance below ±{_g(distance, 2)}, reproduced only at ±{_g(far, 2)} or more "
        f"(rule ±{NFE_RATIO_TOLERANCE})"
    )
    return Finding(measured, verdict, evidence, sensitivity=sensitivity)


#: NFE "rises" during training: last quarter of training at least this factor above the
#: first (one more dopri5 step at 20 evaluations is ×1.3; 10% is below that granularity).
NFE_RISE = 1.1


@claim(
    "nfe_rises_during_training",
    origin=PAPER,
    statement="The forward NFE of an ODE-Net rises during training as the dynamics grow "
    "more complex (Figure 3d).",
    metric="forward NFE per batch, first vs last quarter of training",
    rule=(
        f"Per training tolerance: mean forward NFE over the last quarter of training over the "
        f"first quarter's. Reproduced if ≥ {NFE_RISE} for every training tolerance, not "
        "reproduced if below for every one, inconclusive if mixed."
    ),
    paper=_paper_text("nfe_rises_during_training"),
    tables=(OVER_TRAINING,),
    needs=(
        min_training(
            OVER_TRAINING,
            TRAINING_SHARE,
            ("claims", "nfe_rises_during_training", "paper_epochs"),
            "epochs",
            PAPER_BUDGET,
            trained=_epochs_tracked,
        ),
    ),  # fmt: skip
)
def _nfe_rises_during_training(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    frame = tables(OVER_TRAINING, ["train_tol", "epoch_position", "nfe_forward"])
    if frame.empty:
        raise Untested(f"{tables.directory / OVER_TRAINING} has no rows")
    rises, ratios, parts = [], [], []
    for train_tol, rows in frame.groupby("train_tol"):
        if len(rows) < 4:
            raise Untested(
                f"{tables.directory / OVER_TRAINING}: fewer than 4 windows for "
                f"train_tol={_g(train_tol)}"
            )
        position = rows["epoch_position"]
        span = position.max() - position.min()
        first = rows.loc[position <= position.min() + span / 4, "nfe_forward"].mean()
        last = rows.loc[position >= position.max() - span / 4, "nfe_forward"].mean()
        rises.append(last / first >= NFE_RISE)
        ratios.append(last / first)
        parts.append(
            f"trained at {_g(float(train_tol))}: {_g(first)} → {_g(last)} "
            f"(×{_g(last / first)}) over {_g(_epochs_tracked(tables))} epochs"
        )
    verdict = REPRODUCED if all(rises) else NOT_REPRODUCED if not any(rises) else INCONCLUSIVE
    measured = "; ".join(parts)
    sensitivity = (
        f"last over first quarter ×{_g(min(ratios))} to ×{_g(max(ratios))} against the "
        f"rule's ×{NFE_RISE}"
    )
    return Finding(measured, verdict, f"mean forward NFE, first → last quarter: {measured}",
                   sensitivity=sensitivity)  # fmt: skip


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
    metric="dopri5 forward NFE and test error % on the probe's test images, tightest vs "
    "loosest test-time tolerance",
    rule=(
        f"Per training tolerance, dopri5 (joint step-size control: backends {_JOINT}) "
        "at the loosest test-time tolerance against the tightest "
        "(the same networks on the same images, so the seeds' spread cancels): reproduced if "
        f"every loosest takes fewer NFE with a mean test error at most {TEST_TIME_MARGIN_PP} "
        "points higher, not reproduced otherwise. Each error carries a 95% Clopper-Pearson "
        "interval on the probe's images; the rise is paired, so those intervals do not bound it."
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
    images = _probe_images(tables)
    holds, rises, parts, notes = [], [], [], []
    for train_tol, rows in _dopri5_sweeps(tables, ["nfe_forward", "test_error_pct"]).items():
        if rows["tol_or_steps"].nunique() < 2:
            raise Untested(
                f"{tables.directory / WORK_PRECISION}: one test-time tolerance for "
                f"solver=dopri5, train_tol={_g(train_tol)}"
            )
        tight, loose = rows.iloc[0], rows.iloc[-1]
        rise = float(loose["test_error_pct"] - tight["test_error_pct"])
        rises.append(rise)
        holds.append(loose["nfe_forward"] < tight["nfe_forward"] and rise <= TEST_TIME_MARGIN_PP)
        part = (
            f"trained at {_g(train_tol)}: tol {_g(tight['tol_or_steps'])} → "
            f"{_g(loose['tol_or_steps'])}, NFE {_g(tight['nfe_forward'])} → "
            f"{_g(loose['nfe_forward'])}, test error {_g(tight['test_error_pct'])}% → "
            f"{_g(loose['test_error_pct'])}%"
        )
        if images:
            part += (
                f" (binomial 95% {_binomial(tight['test_error_pct'], images)} → "
                f"{_binomial(loose['test_error_pct'], images)})"
            )
        parts.append(part)
        notes.append(_table1_probe(tables, train_tol, rows))
    measured = "; ".join(parts)
    if images:
        scope = (
            f"On the first {images} test images (one image = {_g(100 / images)} pp; the seeds "
            "share the images, so the intervals count them once). The rise is paired (same "
            "networks, same images): the rates' intervals do not bound it, and the tables hold "
            "no per-image agreement"
        )
    else:
        scope = (
            "The number of probe images is recorded neither in the table nor beside it: no interval"
        )
    evidence = f"{measured}. {scope}. {_table1_note([n for n in notes if n], images)}".strip()
    worst = max(rises)
    sensitivity = f"largest rise {_g(worst)} pp: reproduced for any margin ≥ {_g(max(worst, 0))} pp"
    if images:
        sensitivity += (
            f" (margin {TEST_TIME_MARGIN_PP} pp = {_g(TEST_TIME_MARGIN_PP * images / 100)} of "
            f"{images} images)"
        )
    return Finding(measured, REPRODUCED if all(holds) else NOT_REPRODUCED, evidence,
                   sensitivity=sensitivity)  # fmt: skip


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
