"""The claims' machinery: intervals over seeds, the evidence of a missing table, row or
column, the registry and the entry point."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from odebench.products import claims
from odebench.products.claims import (
    CLAIMS,
    INCONCLUSIVE,
    REPRODUCED,
    Summary,
    welch_difference,
)

#: Every claim the report must carry (the issue's list).
EXPECTED_CLAIMS = [
    "odenet_matches_resnet", "rknet_matches_odenet", "stem_alone_matches_odenet",
    "memory_scaling", "error_falls_with_nfe", "time_proportional_to_nfe",
    "backward_nfe_half_forward", "nfe_rises_during_training", "test_time_tolerance_tradeoff",
    "latent_ode_beats_rnn", "cnf_width_vs_nf_depth", "cnf_two_moons_likelihood",
    "hutchinson_linear_in_dim",
]  # fmt: skip


# -- the shared interval ----------------------------------------------------------------


def test_welch_interval_matches_scipy_on_raw_samples():
    a, b = np.array([1.0, 1.4, 1.1, 0.9]), np.array([2.0, 2.6, 2.2])
    diff = welch_difference(
        Summary(a.mean(), a.std(ddof=1), len(a)), Summary(b.mean(), b.std(ddof=1), len(b))
    )
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff.estimate == pytest.approx(a.mean() - b.mean())
    assert (diff.low, diff.high) == pytest.approx((expected.low, expected.high))


@pytest.mark.parametrize(("std", "n"), [(0.1, 1), (float("nan"), 3)])
def test_one_seed_or_no_std_gives_no_interval_and_an_inconclusive_verdict(std, n):
    diff = welch_difference(Summary(5.0, std, n), Summary(1.0, 0.1, 3))
    assert not diff.has_interval
    assert claims.above_zero(diff) == INCONCLUSIVE
    assert claims.within_margin(diff, 10.0) == INCONCLUSIVE
    assert "no 95% interval" in str(diff)


def test_identical_seeds_give_an_exact_difference():
    diff = welch_difference(Summary(2.0, 0.0, 2), Summary(1.0, 0.0, 2))
    assert (diff.low, diff.high) == (1.0, 1.0)
    assert claims.above_zero(diff) == REPRODUCED


# -- evidence of what is missing --------------------------------------------------------


@pytest.mark.parametrize("claim_id", EXPECTED_CLAIMS)
def test_missing_table_makes_claim_inconclusive_naming_the_file(
    tmp_path, reference, claim_id, decide
):
    row = decide(claim_id, tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert row["evidence"].startswith(str(tmp_path / "")) and row["evidence"].endswith(
        ".csv is missing"
    )
    assert row["measured"] == "–"
    assert row["paper_value"] and row["source"] and row["rule"]


def test_missing_row_makes_claim_inconclusive_naming_the_row(
    tmp_path, reference, write, decide, table2_rows
):
    rows = [r for r in table2_rows(rnn=0.4, ode=0.15) if r["n_obs"] != 100]
    write(tmp_path, "table2_spirals.csv", rows)
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert (
        row["evidence"] == f"{tmp_path / 'table2_spirals.csv'} has no row with model=rnn, n_obs=100"
    )


def test_missing_column_makes_claim_inconclusive_naming_the_column(
    tmp_path, reference, write, decide
):
    write(tmp_path, "table2_spirals.csv", [{"model": "rnn", "n_obs": 30}])
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert "lacks column(s) rmse_mean, rmse_std, n_seeds" in row["evidence"]


# -- the registry and the entry point ---------------------------------------------------


def test_registry_holds_every_claim_in_report_order():
    assert list(CLAIMS) == EXPECTED_CLAIMS


def test_unknown_claim_names_the_known_ones(tmp_path, reference, decide):
    with pytest.raises(ValueError, match="unknown claim 'nope'; known: odenet_matches_resnet"):
        decide("nope", tmp_path, reference)


def test_a_claim_without_a_source_in_the_reference_fails_naming_the_key(
    tmp_path, reference, decide
):
    del reference["claims"]["memory_scaling"]
    with pytest.raises(claims.ReferenceMissing, match=r"reference lacks claims\.memory_scaling"):
        decide("memory_scaling", tmp_path, reference)


def test_every_claim_has_a_verdict_on_the_committed_cpu_tables(repo, reference):
    table = claims.evaluate_all(repo / "results" / "cpu" / "tables", reference)
    assert list(table["claim_id"]) == EXPECTED_CLAIMS
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    assert table[list(claims.COLUMNS)].notna().all().all()
    decided = table.set_index("claim_id")["measured"]
    for claim_id in ("odenet_matches_resnet", "memory_scaling", "latent_ode_beats_rnn"):
        assert decided[claim_id] != "–", claim_id


def test_entry_point_writes_claims_csv(repo, tmp_path):
    out = tmp_path / "claims.csv"
    code = claims.main([
        "--tables-dir", str(repo / "results" / "cpu" / "tables"),
        "--reference", str(repo / "paper" / "reference.yaml"), "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    table = pd.read_csv(out)
    assert list(table.columns) == list(claims.COLUMNS)
    assert len(table) == len(EXPECTED_CLAIMS)


def test_entry_point_rejects_a_missing_tables_directory_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "claims.csv"
    assert claims.main(["--tables-dir", str(tmp_path / "nope"), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"odebench.claims: error: no tables directory {tmp_path / 'nope'}"
    )
    assert not out.exists()
