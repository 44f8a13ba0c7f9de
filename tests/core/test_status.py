"""Status codes: one set, as values that the tables read back."""

import pytest

from odebench.core import status


def test_the_status_codes_keep_the_values_that_tables_read():
    assert status.STATUSES == ("completed", "diverged", "step_budget_exhausted")
    assert (status.COMPLETED, status.DIVERGED, status.STEP_BUDGET_EXHAUSTED) == status.STATUSES


def test_an_outcome_refuses_an_unknown_status_naming_the_known_ones():
    with pytest.raises(ValueError, match="known: completed, diverged, step_budget_exhausted"):
        status.Outcome("crashed")


def test_only_a_completed_outcome_is_completed():
    assert status.Outcome(status.COMPLETED).completed
    assert not status.Outcome(status.DIVERGED, "iteration 2: non-finite loss nan").completed


def test_a_stopped_run_carries_its_outcome():
    stop = status.RunStopped(status.DIVERGED, "non-finite loss inf")
    assert stop.outcome == status.Outcome(status.DIVERGED, "non-finite loss inf")
    assert (stop.status, stop.detail, str(stop)) == (status.DIVERGED, "non-finite loss inf",
                                                     "non-finite loss inf")  # fmt: skip
