"""The paper's claims, each decided by code from the aggregated tables.

:data:`CLAIMS` maps a claim's id to a :class:`Claim`: what the paper says, the
rule that decides it, and a function that reads only tables under a tables
directory and returns what was measured and the verdict. A verdict is
``reproduced``, ``not reproduced`` or ``inconclusive``; a claim whose table is
missing, or lacks the rows it needs, is inconclusive and its evidence names the
file and the rows, so the claims table builds on any subset of the products.

Published values come from ``paper/reference.yaml`` (section ``claims`` and the
tables' sections); measured values only from the tables. Comparisons of two
arms use a Welch confidence interval over seeds (:func:`welch_difference`): with
one seed, or without a std, there is no interval and the verdict is
inconclusive, because with so few seeds a difference is not evidence.

Entry point::

    python -m odebench.products.claims --tables-dir results/cpu/tables \\
        --reference paper/reference.yaml --out results/cpu/claims.csv
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from odebench.core import artifacts

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)

#: Columns of claims.csv, in order.
COLUMNS = (
    "claim_id",
    "statement",
    "source",
    "metric",
    "paper_value",
    "measured",
    "verdict",
    "evidence",
    "rule",
)

#: Confidence level of every interval over seeds.
LEVEL = 0.95
#: "Close" test errors: within this fraction of the reference arm's mean error. The
#: paper calls 0.42% vs 0.41% (ODE-Net vs ResNet) and 0.47% vs 0.42% (RK-Net vs
#: ODE-Net) alike, differences of up to about a quarter of the error.
ERROR_MARGIN = 0.25
#: "About a third of the parameters": the paper's ratio is 0.22 M / 0.60 M = 0.37.
PARAMS_RATIO_BOUNDS = (0.2, 0.5)
#: Activation memory "constant" in depth: grows by at most this factor over the depths.
CONSTANT_GROWTH = 1.1
#: Memory "grows with depth": by at least this fraction of the depth's own growth.
LINEAR_GROWTH_SHARE = 0.5
#: Time "proportional" to NFE: least-squares line with at least this R^2 ...
MIN_R2 = 0.95
#: ... and an intercept at most this share of the fitted time at the largest NFE.
MAX_INTERCEPT_SHARE = 0.1
#: Backward/forward NFE "about" the paper's ratio: within this absolute distance.
NFE_RATIO_TOLERANCE = 0.15
#: NFE "rises" during training: last quarter of training at least this factor above the first.
NFE_RISE = 1.1
#: Test-time loosening "costs little": test error rises by at most this many points.
TEST_TIME_MARGIN_PP = 0.5
#: Hutchinson "clearly" cheaper: its log-log slope at least this much below the exact trace's.
SLOPE_GAP = 0.5
#: The exact trace must show its superlinear cost (slope above this) for the test to decide.
EXACT_MIN_SLOPE = 1.0


class Inconclusive(Exception):
    """A claim cannot be decided; the message is the evidence (which file or row is missing)."""


class ReferenceMissing(ValueError):
    """paper/reference.yaml lacks an entry a claim needs."""


# -- confidence intervals -------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """An arm's mean, std (ddof=1) and number of seeds, as tables store them."""

    mean: float
    std: float
    n: int

    def describe(self, unit: str = "") -> str:
        """``1.31 ± 0.389% (n = 2)``: the form every measured cell uses."""
        spread = "" if _missing(self.std) else f" ± {_g(self.std)}"
        return f"{_g(self.mean)}{spread}{unit} (n = {self.n})"


@dataclass(frozen=True)
class Difference:
    """``a.mean - b.mean`` with its Welch confidence interval; NaN bounds when there is none."""

    estimate: float
    low: float
    high: float
    reason: str = ""  # why there is no interval

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    def __str__(self) -> str:
        if not self.has_interval:
            return f"difference {_g(self.estimate)}, no {LEVEL:.0%} interval ({self.reason})"
        return f"difference {_g(self.estimate)}, {LEVEL:.0%} CI [{_g(self.low)}, {_g(self.high)}]"


def welch_difference(a: Summary, b: Summary, level: float = LEVEL) -> Difference:
    """Welch's t interval for the difference of two means from their summaries.

    Seeds of two arms are independent and their spreads differ (an adjoint ODE-Net
    is noisier than a ResNet), hence Welch rather than a pooled variance. With one
    seed or a missing std the interval is undefined and the verdict must be
    inconclusive.
    """
    estimate = a.mean - b.mean
    for arm in (a, b):
        if arm.n < 2 or _missing(arm.std):
            nan = float("nan")
            return Difference(estimate, nan, nan, f"n = {arm.n}, std {_g(arm.std)}")
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    se = math.sqrt(va + vb)
    if se == 0.0:  # identical seeds: the difference is exact
        return Difference(estimate, estimate, estimate)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return Difference(estimate, estimate - half, estimate + half)


def above_zero(diff: Difference) -> str:
    """Verdict on "a > b": the whole interval above zero, or the whole interval below."""
    if not diff.has_interval:
        return INCONCLUSIVE
    if diff.low > 0:
        return REPRODUCED
    if diff.high < 0:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def within_margin(diff: Difference, margin: float) -> str:
    """Verdict on "a and b alike": the interval inside ±margin, or wholly outside it."""
    if not diff.has_interval:
        return INCONCLUSIVE
    if -margin <= diff.low and diff.high <= margin:
        return REPRODUCED
    if diff.low > margin or diff.high < -margin:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def not_worse(diff: Difference, margin: float) -> str:
    """Verdict on "a no worse than b" (lower is better): the interval below +margin."""
    if not diff.has_interval:
        return INCONCLUSIVE
    if diff.high <= margin:
        return REPRODUCED
    if diff.low > margin:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def all_of(verdicts: Iterable[str]) -> str:
    """A claim made for every case: not reproduced if any case fails, reproduced if all hold."""
    verdicts = list(verdicts)
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return INCONCLUSIVE


def loglog_slope(x: Iterable[float], y: Iterable[float]) -> float:
    """Least-squares slope of log y on log x (the exponent of a power law)."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


# -- reading tables -------------------------------------------------------------------


class Tables:
    """The aggregated tables of one directory, each read on first use."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._frames: dict[str, pd.DataFrame] = {}

    def __call__(self, name: str, columns: Iterable[str] = ()) -> pd.DataFrame:
        """Table ``name`` (a csv file name); Inconclusive if it or a column is missing."""
        path = self.directory / name
        if name not in self._frames:
            if not path.is_file():
                raise Inconclusive(f"{path} is missing")
            self._frames[name] = pd.read_csv(path)
        frame = self._frames[name]
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise Inconclusive(f"{path} lacks column(s) {', '.join(absent)}")
        return frame

    def rows(self, name: str, columns: Iterable[str] = (), **where: Any) -> pd.DataFrame:
        """The rows of ``name`` matching every ``column=value``; Inconclusive if none do."""
        frame = self(name, [*columns, *where])
        mask = pd.Series(True, index=frame.index)
        for column, value in where.items():
            if isinstance(value, float):
                values = pd.to_numeric(frame[column], errors="coerce")
                mask &= np.isclose(values, value, rtol=1e-9, atol=0.0)
            else:
                mask &= frame[column].astype(str) == str(value)
        if not mask.any():
            condition = ", ".join(f"{k}={v}" for k, v in where.items())
            raise Inconclusive(f"{self.directory / name} has no row with {condition}")
        return frame[mask]

    def row(self, name: str, columns: Iterable[str] = (), **where: Any) -> pd.Series:
        return self.rows(name, columns, **where).iloc[0]


def summary(row: Mapping[str, Any], mean: str, std: str, n: str = "n_seeds") -> Summary:
    return Summary(float(row[mean]), float(row[std]), int(row[n]))


def reference_value(reference: Mapping[str, Any], *keys: str) -> Any:
    """``reference[k1][k2]...``, with a one-line error naming the missing key."""
    node: Any = reference
    for depth, key in enumerate(keys):
        if not isinstance(node, Mapping) or key not in node:
            raise ReferenceMissing(f"reference lacks {'.'.join(keys[: depth + 1])}")
        node = node[key]
    return node


# -- the registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    measured: str
    verdict: str
    evidence: str


@dataclass(frozen=True)
class Claim:
    statement: str
    metric: str
    rule: str
    paper: Callable[[Mapping[str, Any]], str]  # the published value, from the reference
    check: Callable[[Tables, Mapping[str, Any]], Finding]


CLAIMS: dict[str, Claim] = {}


def claim(claim_id: str, *, statement: str, metric: str, rule: str, paper: Callable):
    """Register the decorated check as claim ``claim_id`` (registration order is report order)."""

    def register(check: Callable[[Tables, Mapping[str, Any]], Finding]):
        if claim_id in CLAIMS:
            raise ValueError(f"claim {claim_id!r} is registered twice")
        CLAIMS[claim_id] = Claim(statement, metric, rule, paper, check)
        return check

    return register


def evaluate(claim_id: str, tables: Tables, reference: Mapping[str, Any]) -> dict[str, str]:
    """One row of claims.csv: claim ``claim_id`` decided on ``tables``."""
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim {claim_id!r}; known: {', '.join(CLAIMS)}")
    entry = CLAIMS[claim_id]
    try:
        finding = entry.check(tables, reference)
    except Inconclusive as missing:
        finding = Finding("–", INCONCLUSIVE, str(missing))
    if finding.verdict not in VERDICTS:
        raise ValueError(f"claim {claim_id!r} returned verdict {finding.verdict!r}")
    return {
        "claim_id": claim_id,
        "statement": entry.statement,
        "source": str(reference_value(reference, "claims", claim_id, "source")).strip(),
        "metric": entry.metric,
        "paper_value": entry.paper(reference),
        "measured": finding.measured,
        "verdict": finding.verdict,
        "evidence": finding.evidence,
        "rule": entry.rule,
    }


def evaluate_all(tables_dir: Path, reference: Mapping[str, Any]) -> pd.DataFrame:
    """claims.csv as a frame: every registered claim, in registration order."""
    tables = Tables(tables_dir)
    rows = [evaluate(claim_id, tables, reference) for claim_id in CLAIMS]
    return pd.DataFrame(rows, columns=list(COLUMNS))


# -- formatting -----------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _g(value: Any, digits: int = 3) -> str:
    if _missing(value):
        return "–"
    return f"{float(value):.{digits}g}"


def _paper_text(claim_id: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda reference: str(reference_value(reference, "claims", claim_id, "paper"))


# -- Table 1 --------------------------------------------------------------------------

TABLE1 = "table1_mnist.csv"
ERROR = ("test_error_pct_mean", "test_error_pct_std", "n_seeds")


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

MEMORY = "memory_scaling.csv"


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

WORK_PRECISION = "work_precision.csv"


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


TIME_VS_NFE = "time_vs_nfe.csv"


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


BACKWARD = "nfe_backward_vs_forward.csv"


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


OVER_TRAINING = "nfe_over_training.csv"


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


# -- Table 2 --------------------------------------------------------------------------

TABLE2 = "table2_spirals.csv"
RMSE = ("rmse_mean", "rmse_std", "n_seeds")


@claim(
    "latent_ode_beats_rnn",
    statement="A latent ODE extrapolates irregularly sampled spirals with lower RMSE than an "
    "RNN, at 30, 50 and 100 observations (Table 2).",
    metric="extrapolation RMSE (mean over seeds)",
    rule=(
        f"Per number of observations: the {LEVEL:.0%} Welch interval of RNN minus latent-ODE "
        "RMSE. Reproduced if above zero at every one, not reproduced if below zero at any, "
        "inconclusive otherwise."
    ),
    paper=lambda r: "; ".join(
        f"n = {n}: RNN {rnn} vs latent ODE {ode}"
        for n, rnn, ode in zip(
            reference_value(r, "table2_spirals", "n_obs"),
            reference_value(r, "table2_spirals", "rmse", "rnn"),
            reference_value(r, "table2_spirals", "rmse", "latent_ode"),
            strict=True,
        )
    ),
)
def _latent_ode_beats_rnn(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    verdicts, measured, evidence = [], [], []
    for n_obs in reference_value(reference, "table2_spirals", "n_obs"):
        rnn = tables.row(TABLE2, RMSE, model="rnn", n_obs=int(n_obs))
        ode = tables.row(TABLE2, RMSE, model="latent_ode", n_obs=int(n_obs))
        rnn_rmse, ode_rmse = summary(rnn, *RMSE), summary(ode, *RMSE)
        diff = welch_difference(rnn_rmse, ode_rmse)
        verdicts.append(above_zero(diff))
        measured.append(
            f"n = {n_obs}: RNN {rnn_rmse.describe()} vs latent ODE {ode_rmse.describe()}"
        )
        evidence.append(f"n = {n_obs}: RNN minus latent ODE {diff} ({verdicts[-1]})")
    return Finding("; ".join(measured), all_of(verdicts), "; ".join(evidence))


# -- Continuous normalizing flows -----------------------------------------------------

DENSITY = "cnf_density_matching.csv"
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


LIKELIHOOD = "cnf_max_likelihood.csv"
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


TRACE = "trace_estimator.csv"


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


# -- entry point ----------------------------------------------------------------------


def load_reference(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.products.claims", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--tables-dir", type=Path, required=True)
    parser.add_argument("--reference", type=Path, default=Path("paper/reference.yaml"))
    parser.add_argument("--out", type=Path, required=True, help="claims.csv to write")
    args = parser.parse_args(argv)
    try:
        if not args.tables_dir.is_dir():
            raise FileNotFoundError(f"no tables directory {args.tables_dir}")
        table = evaluate_all(args.tables_dir, load_reference(args.reference))
    except (FileNotFoundError, ReferenceMissing, yaml.YAMLError) as err:
        print(f"odebench.claims: error: {err}", file=sys.stderr)
        return 1
    artifacts.write_records(args.out, COLUMNS, table.to_dict("records"))
    counts = table["verdict"].value_counts()
    summary_line = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    print(f"wrote {args.out}: {len(table)} claims ({summary_line})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
