"""The spirals claim (Table 2): the latent ODE against the RNN, per number of observations."""

import pytest

from odebench.products.claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, UNTESTED


def test_clear_win_is_reproduced(tmp_path, reference, write, decide, table2_rows):
    write(tmp_path, "table2_spirals.csv", table2_rows(rnn=0.4, ode=0.15))
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == REPRODUCED
    assert "n = 30: RNN 0.4 ± 0.01 (n = 3) vs latent ODE 0.15 ± 0.01 (n = 3)" in row["measured"]


def test_clear_loss_is_not_reproduced(tmp_path, reference, write, decide, table2_rows):
    write(tmp_path, "table2_spirals.csv", table2_rows(rnn=0.15, ode=0.4))
    assert decide("latent_ode_beats_rnn", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_overlapping_intervals_are_inconclusive(tmp_path, reference, write, decide, table2_rows):
    write(tmp_path, "table2_spirals.csv", table2_rows(rnn=0.40, ode=0.39, std=0.1))
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert "95% CI" in row["evidence"]
    # The same seeds needed at every n; per arm, for the observed means and stds.
    assert isinstance(row["seeds_needed"], int) and row["seeds_needed"] > 3
    assert f"{row['seeds_needed']} seeds per arm would decide it" in row["evidence"]


# Fewer than three seeds per arm is now a testability condition: a single seed was
# inconclusive before there was an untested verdict.
def test_a_single_seed_is_untested_however_large_the_gap(
    tmp_path, reference, write, decide, table2_rows
):
    write(
        tmp_path, "table2_spirals.csv", table2_rows(rnn=9.0, ode=0.1, std=float("nan"), n_seeds=1)
    )
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert row["evidence"].startswith("untested: 1 seed per arm in table2_spirals.csv")
    assert row["testable_when"].startswith(
        "table2_spirals.csv: ≥ 3 seeds per arm; every compared arm converged"
    )


def test_two_seeds_are_untested_and_say_how_many_seeds_would_decide(
    tmp_path, reference, write, decide, table2_rows
):
    write(tmp_path, "table2_spirals.csv", table2_rows(rnn=0.40, ode=0.30, std=0.05, n_seeds=2))
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert "2 seeds per arm in table2_spirals.csv; a comparison needs ≥ 3" in row["evidence"]
    # Difference 0.1, stds 0.05: n = 3 gives t(4) * 0.05 * sqrt(2/3) = 0.113 > 0.1 and
    # n = 4 gives t(6) * 0.05 * sqrt(2/4) = 0.0865 < 0.1.
    assert row["seeds_needed"] == 4


def test_latent_ode_worse_at_one_n_is_said_against_the_claim(
    tmp_path, reference, write, decide, table2_rows
):
    rows = table2_rows(rnn=0.4, ode=0.15, std=0.01)
    for r in rows:
        if r["n_obs"] == 100:
            r.update(rmse_mean=0.20 if r["model"] == "rnn" else 0.21, rmse_std=0.05)
    write(tmp_path, "table2_spirals.csv", rows)
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert "n = 100: RNN minus latent ODE: difference -0.01" in row["evidence"]
    assert "the point estimate is below zero (against the claim)" in row["evidence"]


@pytest.mark.parametrize("status", ["still_improving", "unstable", "unjudged"])
def test_a_latent_ode_not_trained_to_convergence_is_untested(
    tmp_path, reference, write, decide, table2_rows, status
):
    write(tmp_path, "table2_spirals.csv", table2_rows(rnn=0.4, ode=0.9, ode_convergence=status))
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert "not trained to convergence" in row["evidence"]
    assert f"latent_ode 30 {status.replace('_', ' ')} (2/3 seeds converged)" in row["evidence"]
    assert "converged" in row["testable_when"]
