"""The testability conditions a claim declares: what a run must provide for it to be tested.

Each function returns a :class:`~odebench.products.claims.verdicts.Condition` for the
``needs`` of :func:`~odebench.products.claims.verdicts.claim`: enough seeds per arm
(:func:`min_seeds`), enough training (:func:`min_training`), rows that only a run able
to show the effect has (:func:`has_rows`, e.g. the solver family), and converged arms
(:func:`converged`). An unmet condition makes the claim ``untested``, its reason the
evidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from odebench.products.claims.verdicts import Condition, Tables, _matches, reference_value
from odebench.products.stats import LEVEL, _g

#: Seeds per arm a comparison needs to be tested. With two, Welch's interval has about
#: one degree of freedom (t = 12.7 at 95%) and each std rests on a single difference, so
#: only gaps of about nine times the seeds' spread could be decided.
MIN_SEEDS = 3


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
