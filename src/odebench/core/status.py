"""How a run ended: the status codes every family writes into metrics.json.

A run that cannot go on does not raise out of its entry point: it ends with a
status saying why, so that the DAG goes on and the tables can mark the run as
failed. The codes are data that tables read back, so they live here, once, free of
torch (the products and the pipeline compare against them too):

- :data:`COMPLETED`: trained to the end and evaluated;
- :data:`DIVERGED`: the training loss became non-finite;
- :data:`STEP_BUDGET_EXHAUSTED`: an adaptive solve needed more than ``max_num_steps``.

May import the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPLETED = "completed"
DIVERGED = "diverged"
STEP_BUDGET_EXHAUSTED = "step_budget_exhausted"

#: Every status a run can end with.
STATUSES = (COMPLETED, DIVERGED, STEP_BUDGET_EXHAUSTED)


@dataclass(frozen=True)
class Outcome:
    """A run's status and, unless it completed, one line saying where and why it stopped."""

    status: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; known: {', '.join(STATUSES)}")

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED


class RunStopped(Exception):
    """Training cannot go on; ``outcome`` says why (raised inside a step, caught by the loop)."""

    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.outcome = Outcome(status, detail)

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def detail(self) -> str:
        return self.outcome.detail
