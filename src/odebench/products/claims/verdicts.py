"""The machinery that decides a claim: verdicts, intervals over seeds, tables, the registry.

A verdict is one of :data:`VERDICTS`:

- ``untested``: the run cannot test the claim. A product it reads is missing, or a
  testability condition the claim declares (:class:`Condition`: enough training, the
  solver family that can show the effect, enough seeds) is not met. The evidence says
  why, the ``testable_when`` column every condition of a test and ``would_test`` the
  conditions this run does not meet.
- ``inconclusive``: the run tests the claim, but an interval over seeds straddles the
  rule's margin; ``seeds_needed`` says how many seeds per arm the observed spread would
  need (:func:`seeds_needed`).
- ``reproduced`` / ``not reproduced`` otherwise.

Comparisons of two arms use a Welch confidence interval over seeds
(:func:`welch_difference`) and are judged by :func:`compare_above`,
:func:`compare_within` or :func:`compare_not_worse`, each returning a
:class:`Comparison` that carries its verdict, the seeds that would decide it, and how
far the verdict is from flipping. :class:`Tables` reads the aggregated tables and
raises :class:`Untested`, naming the file, column or row, when something a claim needs
is missing. :func:`claim` registers a check in :data:`CLAIMS`, in registration order,
which is the order of claims.csv; :func:`evaluate_all` decides them all.

The claims themselves live in one module per experiment family beside this one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
UNTESTED = "untested"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, UNTESTED)

#: Where a claim comes from. Only ``paper`` claims are the paper's own and count in its
#: tally; the stem-only ablation, FFJORD's trace estimator and our own findings sit apart.
PAPER, ABLATION, FFJORD, OURS = "paper", "ablation", "FFJORD", "ours"
ORIGINS = (PAPER, ABLATION, FFJORD, OURS)

#: Columns of claims.csv, in order (report.py and manuscript.py read exactly these).
COLUMNS = (
    "claim_id",
    "paper_claim",
    "origin",
    "statement",
    "source",
    "metric",
    "paper_value",
    "measured",
    "verdict",
    "evidence",
    "rule",
    "testable_when",
    "would_test",
    "seeds_needed",
    "sensitivity",
)

#: Confidence level of every interval over seeds.
LEVEL = 0.95
#: Seeds per arm a comparison needs to be tested. With two, Welch's interval has about
#: one degree of freedom (t = 12.7 at 95%) and each std rests on a single difference, so
#: only gaps of about nine times the seeds' spread could be decided.
MIN_SEEDS = 3
#: :func:`seeds_needed` searches up to this many seeds per arm, then gives up.
SEEDS_LIMIT = 100_000


class Untested(Exception):
    """The run cannot test a claim; the message is the evidence (what is missing)."""


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


def _welch_half_width(va: float, vb: float, na: int, nb: int, level: float) -> float:
    """Half width of Welch's interval from the arms' variances of the mean and sizes."""
    se2 = va + vb
    if se2 == 0.0:
        return 0.0
    df = se2**2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return float(stats.t.ppf(0.5 + level / 2, df)) * math.sqrt(se2)


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


@dataclass(frozen=True)
class Comparison:
    """Two arms compared by a rule: the verdict, what would decide it, how far it is from flipping.

    ``note`` says when the point estimate lies on the far side of the rule's boundary
    while the interval still reaches across it; ``seeds_needed`` is set for an
    inconclusive comparison (:func:`seeds_needed`); ``sensitivity`` says at what margin
    the verdict would change.
    """

    label: str
    diff: Difference
    verdict: str
    seeds_needed: int | None = None
    note: str = ""
    sensitivity: str = ""
    unit: str = ""

    def __str__(self) -> str:
        text = f"{self.label}: {self.diff}{self.unit}"
        if self.verdict == INCONCLUSIVE and self.diff.has_interval:
            text += "; " + _seeds_phrase(self.seeds_needed)
        return text + (f"; {self.note}" if self.note else "")


def _seeds_phrase(needed: int | None) -> str:
    if needed is None:
        return f"not decided within {SEEDS_LIMIT} seeds per arm"
    return f"{needed} seeds per arm would decide it"


#: The phrases of :func:`_seeds_phrase`, removed from the evidence of a claim that is
#: untested for another reason than its seeds (a projection from an untrained network's
#: spread would mislead).
_SEEDS_PHRASES = re.compile(
    rf"; (?:\d+ seeds per arm would decide it|not decided within {SEEDS_LIMIT} seeds per arm)"
)


def _comparison(label, diff, verdict, boundaries, a, b, note, sensitivity, unit) -> Comparison:
    needed = seeds_needed(a, b, boundaries) if verdict == INCONCLUSIVE else None
    if verdict != INCONCLUSIVE or not diff.has_interval:
        note = ""
    return Comparison(label, diff, verdict, needed, note, sensitivity, unit)


def compare_above(a: Summary, b: Summary, label: str, unit: str = "") -> Comparison:
    """``a > b``: decided when Welch's interval of ``a - b`` lies above or below zero."""
    diff = welch_difference(a, b)
    verdict = above_zero(diff)
    note = "the point estimate is below zero (against the claim), but the interval reaches above"
    if not diff.has_interval:
        sensitivity = ""
    elif verdict == REPRODUCED:
        sensitivity = f"the interval's lower end is {_g(diff.low)}{unit} above zero"
    elif verdict == NOT_REPRODUCED:
        sensitivity = f"the interval's upper end is {_g(-diff.high)}{unit} below zero"
    else:
        sensitivity = f"the interval spans zero, from {_g(diff.low)} to {_g(diff.high)}{unit}"
    return _comparison(label, diff, verdict, (0.0,), a, b,
                       note if diff.estimate < 0 else "", sensitivity, unit)  # fmt: skip


def compare_within(a: Summary, b: Summary, margin: float, label: str, unit: str = "") -> Comparison:
    """``|a - b| <= margin``: the interval inside ±margin, or wholly outside it."""
    diff = welch_difference(a, b)
    verdict = within_margin(diff, margin)
    note = (
        f"the point estimate ({_g(diff.estimate)}{unit}, {_share(diff.estimate, margin)}) lies "
        f"outside the margin ±{_g(margin)}{unit}, but the interval reaches inside it"
    )
    sensitivity = ""
    if diff.has_interval:
        reach = max(abs(diff.low), abs(diff.high))
        sensitivity = f"reproduced for any margin ≥ {_g(reach)}{unit}"
        if diff.low > 0 or diff.high < 0:
            gap = min(abs(diff.low), abs(diff.high))
            sensitivity += f", not reproduced for any margin below {_g(gap)}{unit}"
        sensitivity += f" (margin ±{_g(margin)}{unit})"
    outside = abs(diff.estimate) > margin
    return _comparison(label, diff, verdict, (-margin, margin), a, b,
                       note if outside else "", sensitivity, unit)  # fmt: skip


def compare_not_worse(
    a: Summary, b: Summary, margin: float, label: str, unit: str = ""
) -> Comparison:
    """``a - b <= margin`` (lower is better): the interval below +margin, or wholly above."""
    diff = welch_difference(a, b)
    verdict = not_worse(diff, margin)
    note = (
        f"the point estimate ({_g(diff.estimate)}{unit}) lies above the margin "
        f"+{_g(margin)}{unit}, but the interval reaches below it"
    )
    sensitivity = ""
    if diff.has_interval:
        sensitivity = f"reproduced for any margin ≥ {_g(diff.high)}{unit}"
        if diff.low > 0:
            sensitivity += f", not reproduced for any margin below {_g(diff.low)}{unit}"
        sensitivity += f" (margin +{_g(margin)}{unit})"
    return _comparison(label, diff, verdict, (margin,), a, b,
                       note if diff.estimate > margin else "", sensitivity, unit)  # fmt: skip


def all_of(verdicts: Iterable[str]) -> str:
    """A claim made for every case: not reproduced if any case fails, reproduced if all hold."""
    verdicts = list(verdicts)
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return INCONCLUSIVE


def most_seeds(comparisons: Iterable[Comparison]) -> int | None:
    """The seeds per arm that would decide every inconclusive comparison (None if none can)."""
    needed = [c.seeds_needed for c in comparisons if c.verdict == INCONCLUSIVE]
    if not needed or any(n is None for n in needed):
        return None
    return max(needed)


def loglog_slope(x: Iterable[float], y: Iterable[float]) -> float:
    """Least-squares slope of log y on log x (the exponent of a power law)."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def clopper_pearson(errors: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact binomial interval of a rate from ``errors`` of ``n`` (fractional counts allowed)."""
    alpha = 1 - level
    low = 0.0 if errors <= 0 else float(stats.beta.ppf(alpha / 2, errors, n - errors + 1))
    high = 1.0 if errors >= n else float(stats.beta.ppf(1 - alpha / 2, errors + 1, n - errors))
    return low, high


# -- reading tables -------------------------------------------------------------------


class Tables:
    """The aggregated tables of one directory, each read on first use."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._frames: dict[str, pd.DataFrame] = {}

    def __call__(self, name: str, columns: Iterable[str] = ()) -> pd.DataFrame:
        """Table ``name`` (a csv file name); Untested if it or a column is missing."""
        path = self.directory / name
        if name not in self._frames:
            if not path.is_file():
                raise Untested(f"{path} is missing")
            self._frames[name] = pd.read_csv(path)
        frame = self._frames[name]
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise Untested(f"{path} lacks column(s) {', '.join(absent)}")
        return frame

    def rows(self, name: str, columns: Iterable[str] = (), **where: Any) -> pd.DataFrame:
        """The rows of ``name`` matching every ``column=value`` (a tuple: any of its values).

        Untested if none match.
        """
        frame = self(name, [*columns, *where])
        mask = pd.Series(True, index=frame.index)
        for column, value in where.items():
            mask &= _matches(frame[column], value)
        if not mask.any():
            condition = ", ".join(f"{k}={_listing(v)}" for k, v in where.items())
            raise Untested(f"{self.directory / name} has no row with {condition}")
        return frame[mask]

    def row(self, name: str, columns: Iterable[str] = (), **where: Any) -> pd.Series:
        return self.rows(name, columns, **where).iloc[0]


def _matches(column: pd.Series, value: Any) -> pd.Series:
    if isinstance(value, tuple | list | set | frozenset):
        mask = pd.Series(False, index=column.index)
        for each in value:
            mask |= _matches(column, each)
        return mask
    if isinstance(value, float):
        values = pd.to_numeric(column, errors="coerce")
        return pd.Series(np.isclose(values, value, rtol=1e-9, atol=0.0), index=column.index)
    return column.astype(str) == str(value)


def _listing(value: Any) -> str:
    if isinstance(value, tuple | list | set | frozenset):
        return "|".join(str(v) for v in value)
    return str(value)


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


def is_paper_claim(claims: pd.DataFrame) -> pd.Series:
    """Whether each row of a claims.csv is the paper's own claim (``paper_claim``, which
    reads back as text when the csv is read without NaN conversion)."""
    return claims["paper_claim"].astype(str).str.lower().isin(("true", "1", "yes"))


# -- testability conditions -----------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """Something the run must provide for a claim to be testable.

    ``requirement(reference)`` says what, for the ``testable_when`` column;
    ``unmet(tables, reference)`` is None when the run provides it, else why not (the
    evidence of an ``untested`` verdict). ``seeds`` marks a condition on the number of
    seeds alone: a claim untested only for want of seeds keeps its ``seeds_needed``.
    """

    requirement: Callable[[Mapping[str, Any]], str]
    unmet: Callable[[Tables, Mapping[str, Any]], str | None]
    seeds: bool = False


def min_seeds(table: str, n: int = MIN_SEEDS, column: str = "n_seeds", **where: Any) -> Condition:
    """At least ``n`` seeds in every compared row of ``table`` (rows as :meth:`Tables.rows`)."""

    def unmet(tables: Tables, reference: Mapping[str, Any]) -> str | None:
        have = int(tables.rows(table, [column], **where)[column].min())
        if have >= n:
            return None
        return (
            f"{have} seed{'s' if have != 1 else ''} per arm in {table}; a comparison needs "
            f"≥ {n} (with 2, Welch's {LEVEL:.0%} interval has about one degree of freedom, "
            "t = 12.7)"
        )

    return Condition(lambda reference: f"≥ {n} seeds per arm", unmet, seeds=True)


def min_training(
    table: str, share: float, paper: Sequence[str], unit: str, budget: str,
    trained: Callable[[Tables], float] | None = None, column: str = "epochs", **where: Any,
) -> Condition:  # fmt: skip
    """Training at least ``share`` of the paper's length (``reference[paper...]``).

    The length trained is the smallest ``column`` of the rows of ``table`` matching
    ``where``, or what ``trained(tables)`` returns; ``budget`` names what would train
    long enough (for ``testable_when``).
    """

    def length(reference: Mapping[str, Any]) -> tuple[float, float]:
        full = float(reference_value(reference, *paper))
        return full, math.ceil(share * full)

    def requirement(reference: Mapping[str, Any]) -> str:
        full, need = length(reference)
        return f"≥ {_g(need)} of the paper protocol's {_g(full)} {unit} ({budget})"

    def unmet(tables: Tables, reference: Mapping[str, Any]) -> str | None:
        full, need = length(reference)
        if trained is None:
            have = float(pd.to_numeric(tables.rows(table, [column], **where)[column]).min())
        else:
            have = float(trained(tables))
        if have >= need:
            return None
        return (
            f"trained {_g(have)} of the paper protocol's {_g(full)} {unit} "
            f"({have / full:.1%}); the claim is about trained networks and needs ≥ {_g(need)}"
        )

    return Condition(requirement, unmet)


def has_rows(table: str, requirement: str, why: str, **where: Any) -> Condition:
    """Rows of ``table`` matching ``where`` exist (e.g. the solver family that can show it)."""

    def unmet(tables: Tables, reference: Mapping[str, Any]) -> str | None:
        frame = tables(table, list(where))
        mask = pd.Series(True, index=frame.index)
        for column, value in where.items():
            mask &= _matches(frame[column], value)
        return None if mask.any() else why

    return Condition(lambda reference: requirement, unmet)


def converged(table: str, column: str, limit: float, **where: Any) -> Condition:
    """Every compared arm's ``column`` (a loss still falling at the end of training, as a
    fraction) at most ``limit``: a model still improving is not the model the paper
    compares."""

    def unmet(tables: Tables, reference: Mapping[str, Any]) -> str | None:
        rows = tables.rows(table, [column], **where)
        gains = pd.to_numeric(rows[column], errors="coerce")
        still = rows[gains > limit]
        if still.empty:
            return None
        worst = ", ".join(
            f"{r['model']} n = {r['n_obs']}: {100 * float(r[column]):.0f}%"
            for _, r in still.iterrows()
        )  # fmt: skip
        return (
            f"still improving at the end of training: the validation loss fell by more than "
            f"{limit:.0%} over the last quarter of training for {worst}"
        )

    return Condition(
        lambda reference: (
            f"every compared arm converged (validation loss falling by at most "
            f"{limit:.0%} over the last quarter of training: more iterations)"
        ),
        unmet,
    )


# -- the registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """What a check measured and decided.

    ``seeds_needed``: seeds per arm that would decide the inconclusive comparisons.
    ``unconditional``: the verdict holds whatever the claim's testability conditions
    (e.g. a parameter count does not depend on how long the network trained).
    """

    measured: str
    verdict: str
    evidence: str
    seeds_needed: int | None = None
    sensitivity: str = ""
    unconditional: bool = False


@dataclass(frozen=True)
class Claim:
    origin: str
    statement: str
    metric: str
    rule: str
    paper: Callable[[Mapping[str, Any]], str]  # the published value, from the reference
    check: Callable[[Tables, Mapping[str, Any]], Finding]
    tables: tuple[str, ...]  # the products it reads
    needs: tuple[Condition, ...] = field(default=())

    @property
    def paper_claim(self) -> bool:
        return self.origin == PAPER

    def testable_when(self, reference: Mapping[str, Any]) -> str:
        """The products it reads, and its conditions: what a run must provide to test it."""
        text = ", ".join(self.tables)
        requirements = [need.requirement(reference) for need in self.needs]
        return text + (": " + "; ".join(requirements) if requirements else "")


CLAIMS: dict[str, Claim] = {}


def claim(
    claim_id: str, *, origin: str, statement: str, metric: str, rule: str, paper: Callable,
    tables: Sequence[str], needs: Sequence[Condition] = (),
):  # fmt: skip
    """Register the decorated check as claim ``claim_id`` (registration order is report order).

    Arguments:
        origin: one of :data:`ORIGINS`; only ``paper`` claims are the paper's own.
        tables: the products the check reads; a missing one makes the claim untested.
        needs: the claim's testability conditions; an unmet one makes it untested.
    """
    if origin not in ORIGINS:
        raise ValueError(f"claim {claim_id!r}: unknown origin {origin!r}; known: {ORIGINS}")

    def register(check: Callable[[Tables, Mapping[str, Any]], Finding]):
        if claim_id in CLAIMS:
            raise ValueError(f"claim {claim_id!r} is registered twice")
        CLAIMS[claim_id] = Claim(
            origin, statement, metric, rule, paper, check, tuple(tables), tuple(needs)
        )
        return check

    return register


def evaluate(claim_id: str, tables: Tables, reference: Mapping[str, Any]) -> dict[str, Any]:
    """One row of claims.csv: claim ``claim_id`` decided on ``tables``."""
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim {claim_id!r}; known: {', '.join(CLAIMS)}")
    entry = CLAIMS[claim_id]
    testable_when = entry.testable_when(reference)
    try:
        for name in entry.tables:
            tables(name)
        finding = entry.check(tables, reference)
        unmet = [(need, why) for need in entry.needs if (why := need.unmet(tables, reference))]
    except Untested as missing:
        finding, unmet = Finding("–", UNTESTED, str(missing)), []
    # What this run lacks (for an untested claim): the unmet conditions' requirements, not
    # those the run already meets; the whole of testable_when when a product is missing.
    would_test = testable_when
    if unmet:
        would_test = "; ".join(need.requirement(reference) for need, _ in unmet)
    if unmet and not finding.unconditional:
        seeds_only = all(need.seeds for need, _ in unmet)
        measured = finding.evidence if seeds_only else _SEEDS_PHRASES.sub("", finding.evidence)
        finding = Finding(
            finding.measured,
            UNTESTED,
            f"untested: {'; '.join(why for _, why in unmet)}. As measured: {measured}",
            finding.seeds_needed if seeds_only else None,
        )
    if finding.verdict not in VERDICTS:
        raise ValueError(f"claim {claim_id!r} returned verdict {finding.verdict!r}")
    keep_seeds = finding.verdict in (INCONCLUSIVE, UNTESTED) and finding.seeds_needed is not None
    return {
        "claim_id": claim_id,
        "paper_claim": entry.paper_claim,
        "origin": entry.origin,
        "statement": entry.statement,
        "source": str(reference_value(reference, "claims", claim_id, "source")).strip(),
        "metric": entry.metric,
        "paper_value": entry.paper(reference),
        "measured": finding.measured,
        "verdict": finding.verdict,
        "evidence": finding.evidence,
        "rule": entry.rule,
        "testable_when": testable_when,
        "would_test": would_test if finding.verdict == UNTESTED else "",
        "seeds_needed": finding.seeds_needed if keep_seeds else "",
        "sensitivity": finding.sensitivity if finding.verdict != UNTESTED else "",
    }


def evaluate_all(tables_dir: Path, reference: Mapping[str, Any]) -> pd.DataFrame:
    """claims.csv as a frame: every registered claim, the paper's own first, each group in
    registration order (so that the report numbers each group without gaps)."""
    tables = Tables(tables_dir)
    order = sorted(CLAIMS, key=lambda claim_id: not CLAIMS[claim_id].paper_claim)
    rows = [evaluate(claim_id, tables, reference) for claim_id in order]
    return pd.DataFrame(rows, columns=list(COLUMNS))


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


def _share(value: float, of: float) -> str:
    """``1.6× the margin``: ``value`` as a multiple of the margin ``of``."""
    if of == 0:
        return "margin 0"
    return f"{abs(value) / of:.1f}× the margin"


def _paper_text(claim_id: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda reference: str(reference_value(reference, "claims", claim_id, "paper"))
