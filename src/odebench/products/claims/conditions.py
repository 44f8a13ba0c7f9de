"""The testability conditions a claim declares: what a run must provide for it to be tested.

Each function returns a :class:`~odebench.products.claims.verdicts.Condition` for the
``needs`` of :func:`~odebench.products.claims.verdicts.claim`: enough seeds per arm
(:func:`min_seeds`), networks trained to near the paper's error (:func:`near_paper`),
rows that only a run able to show the effect has (:func:`has_rows`, e.g. the solver
family), and converged arms (:func:`converged` by a table's last-quarter gain,
:func:`trained_to_convergence` by its convergence rule). An unmet condition makes the claim
``untested``, its reason the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from odebench.products.claims.verdicts import Condition, Tables, _matches
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


def near_paper(
    compared: Callable[[Tables, Mapping[str, Any]], pd.DataFrame],
    factor: float,
    reference_error: Callable[[Mapping[str, Any], str], tuple[float, str]],
    label: Callable[[pd.Series, Mapping[str, Any]], str],
    what: str,
    column: str = "test_error_pct_mean",
) -> Condition:
    """Every compared row's ``column`` (a mean error) at most ``factor`` times the error a
    trained network of its ``model`` reaches: ``reference_error(reference, model)`` gives it
    and whose it is ("the paper's").

    ``compared(tables, reference)`` returns the rows the claim compares, ``label`` names
    one in the reason, and ``what`` qualifies the requirement (for ``testable_when``). A
    claim about trained networks compares errors near their trained level; a run stopped
    far above it compares how fast the arms learn.
    """

    def unmet(tables: Tables, reference: Mapping[str, Any]) -> str | None:
        far = []
        for _, row in compared(tables, reference).iterrows():
            target, whose = reference_error(reference, str(row["model"]))
            error = float(row[column])
            if not error <= factor * target:
                ratio = f"{_g(error / target, 3)}× {whose} {_g(target)}%"
                far.append(f"{label(row, reference)} {_g(error)}% ({ratio})")
        if not far:
            return None
        return (
            f"not trained to the paper's level: {', '.join(far)}; the claim compares trained "
            f"networks and needs every compared arm's mean test error ≤ {_g(factor)}× the "
            "paper's"
        )

    def requirement(reference: Mapping[str, Any]) -> str:
        return f"every compared arm's mean test error ≤ {_g(factor)}× the paper's ({what})"

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


def trained_to_convergence(table: str, names: tuple[str, ...], **where: Any) -> Condition:
    """Every compared arm of ``table`` (rows as :meth:`Tables.rows`) converged by the
    convergence rule its table applied (its ``convergence`` column, see
    :mod:`odebench.products.curves`): an arm still improving, unstable, or without a
    curve to judge is not the trained model the paper compares. The columns ``names``
    name an arm."""

    def label(row: pd.Series) -> str:
        return " ".join(str(row[name]) for name in names)

    def unmet(tables: Tables, reference: Mapping[str, Any]) -> str | None:
        rows = tables.rows(table, [*names, "convergence", "n_converged", "n_seeds"], **where)
        open_ = rows[rows["convergence"].fillna("unjudged") != "converged"]
        if open_.empty:
            return None
        arms = ", ".join(
            f"{label(r)} {str(r['convergence']).replace('_', ' ')} "
            f"({int(r['n_converged']) if pd.notna(r['n_converged']) else 0}/{int(r['n_seeds'])} "
            "seeds converged)"
            for _, r in open_.iterrows()
        )  # fmt: skip
        return (
            f"not trained to convergence: {arms}; the claim compares trained models and needs "
            f"every compared arm converged by the rule stated in {table}'s notes (more "
            "iterations for an arm still improving, a steadier schedule for an unstable one)"
        )

    return Condition(
        lambda reference: (
            "every compared arm converged (its validation loss flat near its best "
            "at the end of training)"
        ),
        unmet,
    )
