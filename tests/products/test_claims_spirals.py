"""The spirals claim (Table 2): the latent ODE against the RNN, per number of observations."""

from odebench.products.claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED


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


def test_a_single_seed_is_inconclusive_however_large_the_gap(
    tmp_path, reference, write, decide, table2_rows
):
    write(
        tmp_path, "table2_spirals.csv", table2_rows(rnn=9.0, ode=0.1, std=float("nan"), n_seeds=1)
    )
    assert decide("latent_ode_beats_rnn", tmp_path, reference)["verdict"] == INCONCLUSIVE
