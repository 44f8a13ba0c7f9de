"""The convergence rule on validation curves of the three kinds it tells apart."""

import math

import pytest

from odebench.core.convergence import (
    CONVERGED,
    STILL_IMPROVING,
    UNJUDGED,
    UNSTABLE,
    judge,
)

ITERATIONS = list(range(0, 2001, 100))  # 21 evaluations, 6 in the last quarter


def rule(losses, floor=1.0):
    return judge(ITERATIONS, losses, fall_limit=0.02, excess_limit=0.10, floor=floor)


def test_a_loss_still_falling_at_the_end_is_still_improving():
    verdict = rule([100 * 0.95**k for k in range(len(ITERATIONS))])
    assert verdict.status == STILL_IMPROVING
    assert verdict.fall > 0.02 and verdict.excess == 0


def test_a_loss_that_ends_far_above_its_best_is_unstable_not_improving():
    # runs/spirals/latent_ode-n30/seed0 of the cpu reference: best 35.4 at iteration 1300,
    # a spike to 52.2 at 1500, and an end at 40.5, above the best.
    losses = [300 - 20 * k for k in range(13)] + [35.4, 38.0, 52.2, 47.0, 44.0, 42.0, 41.0, 40.5]
    verdict = rule(losses)
    assert verdict.status == UNSTABLE
    assert verdict.fall > 0.02  # falling back from the spike, still unstable:
    assert verdict.excess == pytest.approx((40.5 - 35.4) / 35.4)


def test_a_flat_noisy_end_near_the_best_is_converged():
    losses = [200 - 10 * k for k in range(15)] + [60.3, 59.8, 60.1, 59.9, 60.2, 60.0]
    verdict = rule(losses)
    assert verdict.status == CONVERGED
    assert abs(verdict.fall) < 0.02 and verdict.excess < 0.01


def test_a_loss_below_the_floor_is_judged_in_its_own_units():
    # A KL of about 0.1 nats still falling 0.005 nats over the last quarter: 5% of the
    # loss, but 0.5% of the 1-nat floor, so converged; without the floor, improving.
    losses = [1.0 - 0.06 * k for k in range(15)] + [0.104, 0.103, 0.102, 0.101, 0.100, 0.099]
    assert rule(losses).status == CONVERGED
    assert rule(losses, floor=0.0).status == STILL_IMPROVING


def test_too_few_evaluations_in_the_last_quarter_are_unjudged_and_nans_are_skipped():
    verdict = judge([0, 500, 1000, 1500, 2000], [3.0, 2.0, math.nan, 1.5, 1.4],
                    fall_limit=0.02, excess_limit=0.1)  # fmt: skip
    assert verdict.status == UNJUDGED and verdict.evaluations == 2
    assert "2 validation losses" in verdict.describe()
    assert judge([], [], fall_limit=0.02, excess_limit=0.1).status == UNJUDGED
