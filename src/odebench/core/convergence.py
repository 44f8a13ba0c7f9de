"""Whether a run's validation curve says that it converged, is still improving, or is
unstable: one rule for every family that validates during training.

The rule reads the validation losses a run recorded (lower is better) at the iterations
it recorded them, and measures two things on them, both in units of the loss's scale
``max(|best|, floor)`` (relative to the loss, or in the loss's own units where it is
below ``floor``, e.g. a KL divergence of 0.1 nats):

- **fall**: how much the loss still falls over the last quarter of training, as the
  least-squares line through the last quarter's evaluations predicts it (a line, not the
  first and the lowest point, so that one spike is not read as progress);
- **excess**: how far the run ends above its best: the lower of its last two
  evaluations minus the lowest of all (0 for a curve that falls to its end; one last
  spike alone does not count).

A run is ``unstable`` if its excess exceeds ``excess_limit`` (it was better before and
lost it, whatever its trend: more iterations of the same schedule will not help),
``still_improving`` if its fall exceeds ``fall_limit`` (more iterations would help),
``converged`` otherwise (flat near its best), and ``unjudged`` with fewer than
:data:`MIN_TAIL` evaluations in its last quarter. An annealed schedule flattens its own
end, so ``converged`` says that this schedule has finished, not that no schedule could
do better.

Read by the flow tables and Table 2 through :mod:`odebench.products.curves`, each with
its own limits (the tables state them).

Pure Python: the tables that report it import no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONVERGED = "converged"
STILL_IMPROVING = "still_improving"
UNSTABLE = "unstable"
UNJUDGED = "unjudged"
#: Fewest evaluations in the last quarter of training that a trend is drawn through.
MIN_TAIL = 4
#: The share of training whose trend is read.
TAIL = 0.25


@dataclass(frozen=True)
class Convergence:
    """What the rule found on one validation curve (fall and excess in units of scale)."""

    status: str
    fall: float
    excess: float
    evaluations: int

    def describe(self) -> str:
        if self.status == UNJUDGED:
            return f"{UNJUDGED} ({self.evaluations} validation losses in the last quarter)"
        return (f"{self.status.replace('_', ' ')} (last quarter's fall {self.fall:.1%}, "
                f"end above best {self.excess:.1%})")  # fmt: skip


def judge(
    iterations: Sequence[float],
    losses: Sequence[float],
    fall_limit: float,
    excess_limit: float,
    floor: float = 1.0,
) -> Convergence:
    """The rule on one curve: ``losses`` recorded at ``iterations`` (NaNs are skipped)."""
    points = sorted((float(i), float(v)) for i, v in zip(iterations, losses, strict=True)
                    if math.isfinite(float(v)))  # fmt: skip
    if not points:
        return Convergence(UNJUDGED, math.nan, math.nan, 0)
    last = points[-1][0]
    start = points[0][0] + (1 - TAIL) * (last - points[0][0])
    tail = [(i, v) for i, v in points if i >= start]
    if len(tail) < MIN_TAIL:
        return Convergence(UNJUDGED, math.nan, math.nan, len(tail))
    best = min(v for _, v in points)
    scale = max(abs(best), floor)
    xs, ys = [i for i, _ in tail], [v for _, v in tail]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in tail) / sum((x - mx) ** 2 for x in xs)
    fall = -slope * (xs[-1] - xs[0]) / scale
    excess = (min(ys[-2:]) - best) / scale
    if excess > excess_limit:
        status = UNSTABLE
    elif fall > fall_limit:
        status = STILL_IMPROVING
    else:
        status = CONVERGED
    return Convergence(status, fall, excess, len(tail))
