"""Statistics over seeds that tables, claims and comparisons share, free of claims' vocabulary.

An arm of a table is a :class:`Summary` (mean, std with ddof=1, number of seeds;
:func:`summary` reads one from a table's row). Two arms are compared by Welch's
confidence interval of their difference (:func:`welch_difference`, a
:class:`Difference`), and :func:`seeds_needed` says how many seeds per arm the observed
spread would need for that interval to clear given boundaries. :func:`loglog_slope` is
the exponent of a power law, :func:`clopper_pearson` the exact interval of a rate.
Every interval is at :data:`LEVEL`. ``_g`` and ``_missing`` format numbers the way every
measured cell reads.

Used by :mod:`odebench.products.claims` (which turns these intervals into verdicts),
:mod:`odebench.products.tables.spirals` (Table 2's intervals) and
:mod:`odebench.products.compare` (a run against the reference run).

May import numpy, pandas, scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Confidence level of every interval over seeds.
LEVEL = 0.95
#: :func:`seeds_needed` searches up to this many seeds per arm, then gives up.
SEEDS_LIMIT = 100_000


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

    def seed_bounds(self) -> tuple[float, float]:
        """Bounds on the smallest and the largest seed's value (Samuelson's inequality).

        No value of a sample lies further from its mean than ``std * (n - 1) / sqrt(n)``
        (std with ddof=1), so a rule on "every seed" can be decided from a table's mean,
        std and n without the seeds' values. With one seed both bounds are the mean.
        """
        if self.n <= 1 or _missing(self.std):
            return self.mean, self.mean
        reach = self.std * (self.n - 1) / math.sqrt(self.n)
        return self.mean - reach, self.mean + reach


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


def _scipy_stats():
    """scipy.stats, imported on first use: it costs about a second, and most table and
    figure jobs that import this module never call it."""
    from scipy import stats

    return stats


def _welch_half_width(va: float, vb: float, na: int, nb: int, level: float) -> float:
    """Half width of Welch's interval from the arms' variances of the mean and sizes."""
    se2 = va + vb
    if se2 == 0.0:
        return 0.0
    df = se2**2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return float(_scipy_stats().t.ppf(0.5 + level / 2, df)) * math.sqrt(se2)


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
    half = _welch_half_width(a.std**2 / a.n, b.std**2 / b.n, a.n, b.n, level)
    return Difference(estimate, estimate - half, estimate + half)


def seeds_needed(
    a: Summary, b: Summary, boundaries: Iterable[float], level: float = LEVEL,
    limit: int = SEEDS_LIMIT,
) -> int | None:  # fmt: skip
    """Seeds per arm for Welch's interval of ``a - b`` to contain none of ``boundaries``.

    Assumes the observed means and stds stay as they are and both arms get the same
    number of seeds: the smallest ``n`` whose interval half width is below the distance
    from the observed difference to the nearest boundary (the margin, or zero), so the
    interval fits inside the margin or excludes it. None when there is no std, the
    difference sits on a boundary, or more than ``limit`` seeds would be needed.
    """
    if any(_missing(arm.std) for arm in (a, b)):
        return None
    estimate = a.mean - b.mean
    distance = min(abs(estimate - boundary) for boundary in boundaries)
    if distance == 0.0:
        return None

    def decides(n: int) -> bool:
        return _welch_half_width(a.std**2 / n, b.std**2 / n, n, n, level) < distance

    if decides(2):
        return 2
    high = 4
    while not decides(high):  # the half width falls monotonically with n
        if high >= limit:
            return None
        high = min(2 * high, limit)
    low = high // 2  # does not decide
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if decides(middle) else (middle, high)
    return high


def summary(row: Mapping[str, Any], mean: str, std: str, n: str = "n_seeds") -> Summary:
    return Summary(float(row[mean]), float(row[std]), int(row[n]))


def loglog_slope(x: Iterable[float], y: Iterable[float]) -> float:
    """Least-squares slope of log y on log x (the exponent of a power law)."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def clopper_pearson(errors: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact binomial interval of a rate from ``errors`` of ``n`` (fractional counts allowed)."""
    alpha = 1 - level
    stats = _scipy_stats()
    low = 0.0 if errors <= 0 else float(stats.beta.ppf(alpha / 2, errors, n - errors + 1))
    high = 1.0 if errors >= n else float(stats.beta.ppf(1 - alpha / 2, errors + 1, n - errors))
    return low, high


# -- formatting -----------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _g(value: Any, digits: int = 3) -> str:
    """``digits`` significant digits; whole numbers from 1,000 to a million in full."""
    if _missing(value):
        return "–"
    value = float(value)
    if 1e3 <= abs(value) < 1e6:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"
