"""The machinery that decides a claim: verdicts, comparisons of two arms, tables, the registry.

A verdict is one of :data:`VERDICTS`:

- ``untested``: the run cannot test the claim. A product it reads is missing, or a
  testability condition the claim declares (:class:`Condition`: enough training, the
  solver family that can show the effect, enough seeds) is not met. The evidence says
  why, the ``testable_when`` column every condition of a test and ``would_test`` the
  conditions this run does not meet.
- ``inconclusive``: the run tests the claim, but an interval over seeds straddles the
  rule's margin; ``seeds_needed`` says how many seeds per arm the observed spread would
  need (:func:`~odebench.products.stats.seeds_needed`).
- ``reproduced`` / ``not reproduced`` otherwise.

Comparisons of two arms use a Welch confidence interval over seeds
(:func:`~odebench.products.stats.welch_difference`) and are judged by
:func:`compare_above`, :func:`compare_within` or :func:`compare_not_worse`, each
returning a :class:`Comparison` that carries its verdict, the seeds that would decide
it, and how far the verdict is from flipping. :class:`Tables` reads the aggregated
tables and raises :class:`Untested`, naming the file, column or row, when something a
claim needs is missing. :func:`claim` registers a check in :data:`CLAIMS`, in
registration order, which is the order of claims.csv; :func:`evaluate_all` decides them
all.

The statistics come from :mod:`odebench.products.stats`; the conditions a claim declares
are built in :mod:`~odebench.products.claims.conditions`, and the claims themselves live
in one module per experiment family beside this one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odebench.products.stats import (
    SEEDS_LIMIT,
    Difference,
    Summary,
    _g,
    seeds_needed,
    welch_difference,
)

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


class Untested(Exception):
    """The run cannot test a claim; the message is the evidence (what is missing)."""


class ReferenceMissing(ValueError):
    """paper/reference.yaml lacks an entry a claim needs."""


# -- verdicts on an interval ----------------------------------------------------------


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
        # Which way the measurement leans: the verdict the rule would give were the
        # conditions met (a reader weighs an untested claim by it; it decides nothing).
        leaning = "" if finding.verdict == UNTESTED else f" (the rule alone: {finding.verdict})"
        finding = Finding(
            finding.measured,
            UNTESTED,
            f"untested: {'; '.join(why for _, why in unmet)}. As measured{leaning}: {measured}",
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


def _share(value: float, of: float) -> str:
    """``1.6× the margin``: ``value`` as a multiple of the margin ``of``."""
    if of == 0:
        return "margin 0"
    return f"{abs(value) / of:.1f}× the margin"


def _paper_text(claim_id: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda reference: str(reference_value(reference, "claims", claim_id, "paper"))
