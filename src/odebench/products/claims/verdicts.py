"""The machinery that decides a claim: verdicts, intervals over seeds, tables, the registry.

A verdict is ``reproduced``, ``not reproduced`` or ``inconclusive``. Comparisons of
two arms use a Welch confidence interval over seeds (:func:`welch_difference`): with
one seed, or without a std, there is no interval and the verdict is inconclusive,
because with so few seeds a difference is not evidence. :class:`Tables` reads the
aggregated tables and raises :class:`Inconclusive`, naming the file, column or row,
when something a claim needs is missing. :func:`claim` registers a check in
:data:`CLAIMS`, in registration order, which is the order of claims.csv;
:func:`evaluate_all` decides them all.

The claims themselves live in one module per experiment family beside this one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

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
