"""The claims' machinery: intervals over seeds, the seeds that would decide a comparison,
testability conditions, the evidence of a missing table, row or column, the registry
and the entry point."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from odebench.products import claims
from odebench.products.claims import (
    CLAIMS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    UNTESTED,
    Summary,
    seeds_needed,
    welch_difference,
)

#: Every claim the report must carry (the issue's list), then our own findings.
EXPECTED_CLAIMS = [
    "odenet_matches_resnet", "rknet_matches_odenet", "stem_alone_matches_odenet",
    "memory_scaling", "error_falls_with_nfe", "time_proportional_to_nfe",
    "backward_nfe_half_forward", "nfe_rises_during_training", "test_time_tolerance_tradeoff",
    "adjoint_gradient_differs_from_backprop", "round_trip_not_exact",
    "latent_ode_beats_rnn", "cnf_width_vs_nf_depth", "cnf_two_moons_likelihood",
    "hutchinson_linear_in_dim", "hutchinson_noise_fixed_per_solve",
]  # fmt: skip
#: Claims that are not the paper's own, with where they come from.
NOT_THE_PAPERS = {
    "stem_alone_matches_odenet": "ablation",
    "hutchinson_linear_in_dim": "FFJORD",
    "adjoint_gradient_differs_from_backprop": "ours",
    "round_trip_not_exact": "ours",
    "hutchinson_noise_fixed_per_solve": "ours",
}


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


def test_untested_is_a_verdict():
    assert claims.VERDICTS == ("reproduced", "not reproduced", "inconclusive", "untested")
    assert UNTESTED == "untested"


# -- the seeds that would decide a comparison --------------------------------------------


def test_seeds_needed_matches_a_hand_computation():
    # Means 1 and 0, stds 1 and 1, n per arm: Welch's df = 2 (n - 1) and half width
    # t(df) * sqrt(2 / n). n = 8: t(14) = 2.145, 2.145 * 0.5 = 1.072 > 1 (the distance to
    # zero); n = 9: t(16) = 2.120, 2.120 * 0.4714 = 0.999 < 1. So 9 seeds per arm.
    assert seeds_needed(Summary(1.0, 1.0, 2), Summary(0.0, 1.0, 2), (0.0,)) == 9


def test_seeds_needed_gives_an_interval_that_decides():
    a, b = Summary(0.5, 0.3, 2), Summary(0.2, 0.1, 2)
    n = seeds_needed(a, b, (0.1,))
    decided = welch_difference(Summary(a.mean, a.std, n), Summary(b.mean, b.std, n))
    short = welch_difference(Summary(a.mean, a.std, n - 1), Summary(b.mean, b.std, n - 1))
    assert decided.low > 0.1 >= short.low


def test_seeds_needed_measures_the_distance_to_the_nearest_boundary():
    # 0.9 inside ±1: the interval must fit in (-1, 1), distance 0.1 to the margin.
    near = seeds_needed(Summary(0.9, 0.5, 3), Summary(0.0, 0.5, 3), (-1.0, 1.0))
    far = seeds_needed(Summary(0.5, 0.5, 3), Summary(0.0, 0.5, 3), (-1.0, 1.0))
    assert near > far > 2


@pytest.mark.parametrize(("a", "b", "expected"), [
    (Summary(1.0, 0.0, 2), Summary(0.0, 0.0, 2), 2),  # no spread: two seeds decide
    (Summary(1.0, 0.1, 2), Summary(1.0, 0.1, 2), None),  # on the boundary: never decided
    (Summary(1.0, float("nan"), 1), Summary(0.0, 0.1, 3), None),  # no std: no projection
])  # fmt: skip
def test_seeds_needed_edge_cases(a, b, expected):
    assert seeds_needed(a, b, (0.0,)) == expected


def test_inconclusive_comparison_says_when_its_point_estimate_lies_outside_the_margin():
    # RK-Net better by 0.37 pp, margin ±0.235 pp, two seeds: the interval straddles.
    comparison = claims.compare_within(
        Summary(1.305, 0.389, 2), Summary(0.94, 0.0141, 2), 0.235, "ODE-Net minus RK-Net", " pp"
    )
    assert comparison.verdict == INCONCLUSIVE
    assert "lies outside the margin ±0.235 pp, but the interval reaches inside it" in str(
        comparison
    )
    assert comparison.seeds_needed is not None and comparison.seeds_needed > 2
    assert f"{comparison.seeds_needed} seeds per arm would decide it" in str(comparison)


def test_decided_comparison_says_at_what_margin_it_would_flip():
    comparison = claims.compare_not_worse(
        Summary(1.0, 0.01, 5), Summary(1.0, 0.01, 5), 0.1, "a minus b", " pp"
    )
    assert comparison.verdict == REPRODUCED
    assert comparison.seeds_needed is None and "outside" not in str(comparison)
    high = comparison.diff.high
    assert comparison.sensitivity.startswith(f"reproduced for any margin ≥ {high:.3g} pp")


def test_samuelson_bounds_hold_every_seed():
    seeds = np.array([0.2, 1.6])
    low, high = Summary(seeds.mean(), seeds.std(ddof=1), 2).seed_bounds()
    assert (low, high) == pytest.approx((0.2, 1.6))
    seeds = np.array([1.0, 1.1, 3.0, 0.9])
    low, high = Summary(seeds.mean(), seeds.std(ddof=1), 4).seed_bounds()
    assert low <= seeds.min() and high >= seeds.max()


def test_clopper_pearson_matches_scipys_exact_binomial_interval():
    expected = stats.binomtest(3, 500).proportion_ci(0.95, method="exact")
    assert claims.clopper_pearson(3, 500) == pytest.approx((expected.low, expected.high))
    assert claims.clopper_pearson(0, 500)[0] == 0.0


# -- evidence of what is missing --------------------------------------------------------


# The run did not make the product: untested (it was inconclusive before there was an
# untested verdict), the evidence naming what is missing.


@pytest.mark.parametrize("claim_id", EXPECTED_CLAIMS)
def test_missing_table_makes_claim_untested_naming_the_file(tmp_path, reference, claim_id, decide):
    row = decide(claim_id, tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert row["evidence"].startswith(str(tmp_path / "")) and row["evidence"].endswith(
        ".csv is missing"
    )
    assert row["measured"] == "–"
    assert row["paper_value"] and row["source"] and row["rule"]
    missing = row["evidence"].removesuffix(" is missing").rsplit("/", 1)[-1]
    assert row["testable_when"].startswith(missing)  # what would test it names the product
    assert row["seeds_needed"] == "" and row["sensitivity"] == ""


def test_missing_row_makes_claim_untested_naming_the_row(
    tmp_path, reference, write, decide, table2_rows
):
    rows = [r for r in table2_rows(rnn=0.4, ode=0.15) if r["n_obs"] != 100]
    write(tmp_path, "table2_spirals.csv", rows)
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert (
        row["evidence"] == f"{tmp_path / 'table2_spirals.csv'} has no row with model=rnn, n_obs=100"
    )


def test_missing_column_makes_claim_untested_naming_the_column(tmp_path, reference, write, decide):
    write(tmp_path, "table2_spirals.csv", [{"model": "rnn", "n_obs": 30}])
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert "lacks column(s) rmse_mean, rmse_std, n_seeds" in row["evidence"]


# -- the registry and the entry point ---------------------------------------------------


def test_registry_holds_every_claim_in_report_order():
    assert list(CLAIMS) == EXPECTED_CLAIMS


def test_only_the_papers_own_claims_are_paper_claims(tmp_path, reference, decide):
    for claim_id in EXPECTED_CLAIMS:
        row = decide(claim_id, tmp_path, reference)
        origin = NOT_THE_PAPERS.get(claim_id, "paper")
        assert (row["origin"], row["paper_claim"]) == (origin, origin == "paper"), claim_id


def test_a_claim_with_an_unknown_origin_is_refused():
    with pytest.raises(ValueError, match="unknown origin 'blog'"):
        claims.claim("x", origin="blog", statement="", metric="", rule="", paper=str, tables=())


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
    table = claims.evaluate_all(repo / "reference" / "cpu" / "tables", reference)
    # The paper's own claims first, so that the report numbers each group without gaps.
    assert list(table["claim_id"]) == (
        [c for c in EXPECTED_CLAIMS if c not in NOT_THE_PAPERS]
        + [c for c in EXPECTED_CLAIMS if c in NOT_THE_PAPERS]
    )
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    assert table[list(claims.COLUMNS)].notna().all().all()
    decided = table.set_index("claim_id")["measured"]
    for claim_id in ("odenet_matches_resnet", "memory_scaling", "latent_ode_beats_rnn"):
        assert decided[claim_id] != "–", claim_id
    assert (table["testable_when"] != "").all()
    tested = table[table["verdict"].isin([REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE])]
    assert (tested["sensitivity"] != "").all()
    seeds = table["seeds_needed"] != ""
    assert set(table.loc[seeds, "verdict"]) <= {INCONCLUSIVE, UNTESTED}


def test_committed_cpu_run_cannot_test_what_needs_trained_networks(repo, reference):
    # 3 of the paper's 160 epochs left every arm at 1.9-2.5x the paper's error: the Table 1
    # comparisons and Figure 3d are untested, saying what would test them, not
    # inconclusive or refuted.
    table = claims.evaluate_all(repo / "reference" / "cpu" / "tables", reference)
    rows = table.set_index("claim_id")
    for claim_id in ("odenet_matches_resnet", "rknet_matches_odenet",
                     "stem_alone_matches_odenet", "nfe_rises_during_training"):  # fmt: skip
        assert rows.loc[claim_id, "verdict"] == UNTESTED, claim_id
        assert "not trained to the paper's level: " in rows.loc[claim_id, "evidence"]
        assert (
            "every compared arm's mean test error ≤ 1.5× the paper's"
            in (rows.loc[claim_id, "testable_when"])
        )


def test_entry_point_writes_claims_csv(repo, tmp_path):
    out = tmp_path / "claims.csv"
    code = claims.main([
        "--tables-dir", str(repo / "reference" / "cpu" / "tables"),
        "--reference", str(repo / "paper" / "reference.yaml"), "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == list(claims.COLUMNS)
    assert list(table.columns) == [
        "claim_id", "paper_claim", "origin", "statement", "source", "metric", "paper_value",
        "measured", "verdict", "evidence", "rule", "testable_when", "would_test", "seeds_needed",
        "sensitivity",
    ]  # fmt: skip
    assert len(table) == len(EXPECTED_CLAIMS)
    assert set(out.read_text().splitlines()[1].split(",")[1:2]) <= {"true", "false"}
    paper = dict(zip(table["claim_id"], table["paper_claim"].astype(str), strict=True))
    assert {k for k, v in paper.items() if v.lower() == "false"} == set(NOT_THE_PAPERS)


def test_entry_point_rejects_a_missing_tables_directory_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "claims.csv"
    assert claims.main(["--tables-dir", str(tmp_path / "nope"), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"python -m odebench.products.claims: error: no tables directory {tmp_path / 'nope'}"
    )
    assert not out.exists()
