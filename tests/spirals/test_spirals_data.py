"""The spirals data set: test spirals extrapolate only where training windows observed."""

import numpy as np
import pytest

from odebench.spirals.data import coverage, make_spirals


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_test_future_lies_within_the_angles_its_directions_training_windows_saw(seed):
    data = make_spirals(n_spirals=200, seed=seed)
    assert coverage(data) == {"uncovered_share": 0.0, "max_overshoot_steps": 0}
    for sign in (1, -1):
        train = (data["direction"] == sign) & ~data["is_test"]
        test = (data["direction"] == sign) & data["is_test"]
        covered_end = (data["start"][train] + data["observed"].shape[1]).max()
        assert (data["start"][test] + data["truth"].shape[1] <= covered_end).all()


def test_coverage_measures_what_an_unrestricted_split_leaves_uncovered():
    data = make_spirals(n_spirals=200, seed=0)
    n_grid_length = 1000 - data["truth"].shape[1]
    shifted = dict(data, start=np.where(data["is_test"], n_grid_length - 1, data["start"]))
    report = coverage(shifted)
    assert report["uncovered_share"] > 0.4 and report["max_overshoot_steps"] > 50


def test_the_split_keeps_half_of_each_direction_and_the_test_share():
    data = make_spirals(n_spirals=1000, test_fraction=0.2, seed=0)
    assert data["is_test"].sum() == 200
    for sign in (1, -1):
        assert (data["is_test"] & (data["direction"] == sign)).sum() == 100


def test_too_short_a_grid_for_a_covered_future_fails_clearly():
    with pytest.raises(ValueError, match="cannot cover a test spiral's future"):
        make_spirals(n_spirals=10, n_grid=250, seed=0)
