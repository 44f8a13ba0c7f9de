"""The claims layer: each claim's verdict follows its stated rule, on synthetic tables."""

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
    Summary,
    Tables,
    evaluate,
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


@pytest.fixture()
def reference(repo):
    return claims.load_reference(repo / "paper" / "reference.yaml")


def write(directory, name, rows):
    pd.DataFrame(rows).to_csv(directory / name, index=False)


def decide(claim_id, directory, reference):
    return evaluate(claim_id, Tables(directory), reference)


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


# -- verdicts on synthetic tables -----------------------------------------------------------


def spirals(rnn, ode, std=0.01, n_seeds=3):
    """Table 2 rows with the RNN's and the latent ODE's mean RMSE at every n."""
    return [
        {"model": model, "n_obs": n, "n_seeds": n_seeds, "rmse_mean": mean, "rmse_std": std}
        for model, mean in (("rnn", rnn), ("latent_ode", ode))
        for n in (30, 50, 100)
    ]


def test_clear_win_is_reproduced(tmp_path, reference):
    write(tmp_path, "table2_spirals.csv", spirals(rnn=0.4, ode=0.15))
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == REPRODUCED
    assert "n = 30: RNN 0.4 ± 0.01 (n = 3) vs latent ODE 0.15 ± 0.01 (n = 3)" in row["measured"]


def test_clear_loss_is_not_reproduced(tmp_path, reference):
    write(tmp_path, "table2_spirals.csv", spirals(rnn=0.15, ode=0.4))
    assert decide("latent_ode_beats_rnn", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_overlapping_intervals_are_inconclusive(tmp_path, reference):
    write(tmp_path, "table2_spirals.csv", spirals(rnn=0.40, ode=0.39, std=0.1))
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert "95% CI" in row["evidence"]


def test_a_single_seed_is_inconclusive_however_large_the_gap(tmp_path, reference):
    write(tmp_path, "table2_spirals.csv", spirals(rnn=9.0, ode=0.1, std=float("nan"), n_seeds=1))
    assert decide("latent_ode_beats_rnn", tmp_path, reference)["verdict"] == INCONCLUSIVE


@pytest.mark.parametrize("claim_id", EXPECTED_CLAIMS)
def test_missing_table_makes_claim_inconclusive_naming_the_file(tmp_path, reference, claim_id):
    row = decide(claim_id, tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert row["evidence"].startswith(str(tmp_path / "")) and row["evidence"].endswith(
        ".csv is missing"
    )
    assert row["measured"] == "–"
    assert row["paper_value"] and row["source"] and row["rule"]


def test_missing_row_makes_claim_inconclusive_naming_the_row(tmp_path, reference):
    rows = [r for r in spirals(rnn=0.4, ode=0.15) if r["n_obs"] != 100]
    write(tmp_path, "table2_spirals.csv", rows)
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert (
        row["evidence"] == f"{tmp_path / 'table2_spirals.csv'} has no row with model=rnn, n_obs=100"
    )


def test_missing_column_makes_claim_inconclusive_naming_the_column(tmp_path, reference):
    write(tmp_path, "table2_spirals.csv", [{"model": "rnn", "n_obs": 30}])
    row = decide("latent_ode_beats_rnn", tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert "lacks column(s) rmse_mean, rmse_std, n_seeds" in row["evidence"]


def table1(odenet=(0.42, 0.01), resnet=(0.41, 0.01), rknet=(0.47, 0.01), stem=(0.5, 0.01),
           odenet_params=220_000, n_seeds=3):  # fmt: skip
    arms = {
        ("mlp", None): ((1.6, 0.01), 240_000),
        ("resnet", None): (resnet, 600_000),
        ("rknet", 0.001): (rknet, odenet_params),
        ("odenet", 0.001): (odenet, odenet_params),
        ("odenet", 0.1): ((9.0, 0.01), odenet_params),
        ("stem", None): (stem, 130_000),
    }
    return [
        {"model": model, "tol": tol, "n_seeds": n_seeds, "test_error_pct_mean": mean,
         "test_error_pct_std": std, "params": params}
        for (model, tol), ((mean, std), params) in arms.items()
    ]  # fmt: skip


def test_odenet_close_to_resnet_with_a_third_of_the_params_is_reproduced(tmp_path, reference):
    write(tmp_path, "table1_mnist.csv", table1())
    row = decide("odenet_matches_resnet", tmp_path, reference)
    assert row["verdict"] == REPRODUCED
    assert "ODE-Net (tol 0.001) 0.42 ± 0.01% (n = 3)" in row["measured"]  # the paper's tol
    assert row["paper_value"] == "ODE-Net 0.42% vs ResNet 0.41%; params 0.22 M / 0.6 M = 0.37"


def test_odenet_with_as_many_params_as_the_resnet_is_not_reproduced(tmp_path, reference):
    write(tmp_path, "table1_mnist.csv", table1(odenet_params=600_000))
    assert decide("odenet_matches_resnet", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_odenet_clearly_worse_than_resnet_is_not_reproduced(tmp_path, reference):
    write(tmp_path, "table1_mnist.csv", table1(odenet=(1.0, 0.01)))
    assert decide("odenet_matches_resnet", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_rknet_far_from_odenet_is_not_reproduced_and_close_is_reproduced(tmp_path, reference):
    write(tmp_path, "table1_mnist.csv", table1(rknet=(0.43, 0.01)))
    assert decide("rknet_matches_odenet", tmp_path, reference)["verdict"] == REPRODUCED
    write(tmp_path, "table1_mnist.csv", table1(rknet=(2.0, 0.01)))
    assert decide("rknet_matches_odenet", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_stem_better_than_odenet_counts_as_comparable(tmp_path, reference):
    write(tmp_path, "table1_mnist.csv", table1(stem=(0.3, 0.01)))
    assert decide("stem_alone_matches_odenet", tmp_path, reference)["verdict"] == REPRODUCED


def test_odenet_falls_back_to_the_tightest_trained_tolerance(tmp_path, reference):
    rows = [r for r in table1() if r["tol"] != 0.001 or r["model"] == "rknet"]
    write(tmp_path, "table1_mnist.csv", rows)
    row = decide("stem_alone_matches_odenet", tmp_path, reference)
    assert "ODE-Net (tol 0.1) 9 ± 0.01%" in row["measured"]


def memory(adjoint_growth):
    rows = []
    for depth in (1, 2, 4, 8):
        for method, bytes_ in (("adjoint", 100 * adjoint_growth ** np.log2(depth)),
                               ("direct", 100 * depth), ("resnet", 50 * depth)):  # fmt: skip
            rows.append({"method": method, "depth": depth, "activation_bytes": bytes_})
    return rows


def test_constant_adjoint_memory_is_reproduced_and_growing_is_not(tmp_path, reference):
    write(tmp_path, "memory_scaling.csv", memory(adjoint_growth=1.0))
    row = decide("memory_scaling", tmp_path, reference)
    assert row["verdict"] == REPRODUCED
    assert row["paper_value"] == "adjoint (ODE-Net) O(1), direct (RK-Net) O(L~), ResNet O(L)"
    write(tmp_path, "memory_scaling.csv", memory(adjoint_growth=2.0))
    assert decide("memory_scaling", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def work_precision(error_exponent, loose_error_pct=1.0):
    """dopri5 rows: NFE falls as tol loosens; error ~ NFE^exponent; test error at the loosest."""
    rows = []
    for train_tol in (0.001, 0.1):
        for tol, nfe in ((1e-6, 80), (1e-4, 32), (1e-2, 20), (1e-1, 14)):
            rows.append({"train_tol": train_tol, "solver": "dopri5", "tol_or_steps": tol,
                         "nfe_forward": nfe, "error": nfe**error_exponent,
                         "test_error_pct": loose_error_pct if tol == 1e-1 else 1.0})  # fmt: skip
    return rows


def test_error_falling_with_nfe_is_reproduced_and_rising_is_not(tmp_path, reference):
    write(tmp_path, "work_precision.csv", work_precision(error_exponent=-3))
    assert decide("error_falls_with_nfe", tmp_path, reference)["verdict"] == REPRODUCED
    write(tmp_path, "work_precision.csv", work_precision(error_exponent=0.5))
    assert decide("error_falls_with_nfe", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_looser_test_tolerance_is_a_cheap_trade_unless_error_jumps(tmp_path, reference):
    write(tmp_path, "work_precision.csv", work_precision(-3, loose_error_pct=1.2))
    assert decide("test_time_tolerance_tradeoff", tmp_path, reference)["verdict"] == REPRODUCED
    write(tmp_path, "work_precision.csv", work_precision(-3, loose_error_pct=5.0))
    row = decide("test_time_tolerance_tradeoff", tmp_path, reference)
    assert row["verdict"] == NOT_REPRODUCED


def time_fits(r2, intercept=0.0):
    return [
        {"train_tol": 0.001, "solver": solver, "seconds_per_nfe": 0.03,
         "intercept_seconds": intercept, "r2": r2, "nfe_max": 80}
        for solver in ("dopri5", "rk4")
    ]  # fmt: skip


@pytest.mark.parametrize(("r2", "intercept", "verdict"), [
    (0.999, 0.01, REPRODUCED),
    (0.5, 0.01, NOT_REPRODUCED),
    (0.999, 1.0, NOT_REPRODUCED),  # a large fixed cost: affine, not proportional
])  # fmt: skip
def test_time_proportional_to_nfe_needs_a_good_line_through_the_origin(
    tmp_path, reference, r2, intercept, verdict
):
    write(tmp_path, "time_vs_nfe.csv", time_fits(r2, intercept))
    assert decide("time_proportional_to_nfe", tmp_path, reference)["verdict"] == verdict


def backward(ratio):
    return [
        {"source": "training", "solver": "dopri5", "adjoint": "full", "train_tol": tol,
         "nfe_forward": nfe, "nfe_backward": ratio * nfe, "count": count}
        for tol in (0.001, 0.1) for nfe, count in ((20, 100), (26, 5))
    ]  # fmt: skip


@pytest.mark.parametrize(("ratio", "verdict"), [(0.5, REPRODUCED), (1.0, NOT_REPRODUCED)])
def test_backward_nfe_ratio_is_judged_against_the_papers_half(tmp_path, reference, ratio, verdict):
    write(tmp_path, "nfe_backward_vs_forward.csv", backward(ratio))
    row = decide("backward_nfe_half_forward", tmp_path, reference)
    assert row["verdict"] == verdict
    assert row["paper_value"].startswith("backward/forward ≈ 0.5")
    assert "issue #97" in row["source"]


def over_training(rise):
    positions = np.arange(0.05, 3.0, 0.1)
    return [
        {"train_tol": tol, "epoch_position": p, "nfe_forward": 20 * (1 + (rise - 1) * p / 3),
         "nfe_forward_std": 0.0, "n_seeds": 2}
        for tol in (0.001, 0.1) for p in positions
    ]  # fmt: skip


@pytest.mark.parametrize(("rise", "verdict"), [(2.0, REPRODUCED), (1.0, NOT_REPRODUCED)])
def test_nfe_rising_over_training_is_reproduced_and_flat_is_not(tmp_path, reference, rise, verdict):
    write(tmp_path, "nfe_over_training.csv", over_training(rise))
    assert decide("nfe_rises_during_training", tmp_path, reference)["verdict"] == verdict


def density(cnf_better=True, cnf_trend=-1.0):
    rows = []
    for target in ("ring", "grid", "moons"):
        for capacity in (2, 8, 32):
            cnf = 1.0 + cnf_trend * 0.2 * np.log2(capacity)
            nf = cnf + (0.5 if cnf_better else -0.5)
            for model, kl in (("cnf", cnf), ("nf", nf)):
                rows.append({"target": target, "model": model, "capacity": capacity,
                             "n_seeds": 3, "kl_mean": kl, "kl_std": 0.05})  # fmt: skip
    return rows


@pytest.mark.parametrize(("kwargs", "verdict"), [
    ({}, REPRODUCED),
    ({"cnf_better": False}, NOT_REPRODUCED),
    ({"cnf_trend": 1.0}, NOT_REPRODUCED),  # CNF worse with width
])  # fmt: skip
def test_cnf_width_against_nf_depth(tmp_path, reference, kwargs, verdict):
    write(tmp_path, "cnf_density_matching.csv", density(**kwargs))
    row = decide("cnf_width_vs_nf_depth", tmp_path, reference)
    assert row["verdict"] == verdict, row["evidence"]


def test_cnf_with_lower_two_moons_nll_is_reproduced(tmp_path, reference):
    rows = [
        {"dataset": dataset, "model": model, "n_seeds": 3, "test_nll_mean": nll,
         "test_nll_std": 0.02, "nfe_forward": 20}
        for dataset in ("two_circles", "two_moons")
        for model, nll in (("nf", 1.6), ("cnf", 1.2))
    ]  # fmt: skip
    write(tmp_path, "cnf_max_likelihood.csv", rows)
    row = decide("cnf_two_moons_likelihood", tmp_path, reference)
    assert row["verdict"] == REPRODUCED
    assert row["measured"] == "test NLL: NF 1.6 ± 0.02 (n = 3) vs CNF 1.2 ± 0.02 (n = 3)"


def trace(exact_power, hutchinson_power):
    rows = [
        {"dim": d, "estimator": estimator, "seconds_per_step": 1e-4 * d**power * 10,
         "nfe": 10, "seconds_per_nfe": 1e-4 * d**power, "variance": 0.0 if estimator == "exact"
         else 1.0}
        for d in (2, 8, 32, 128)
        for estimator, power in (("exact", exact_power), ("hutchinson", hutchinson_power))
    ]  # fmt: skip
    # An arm that ran out of solver steps has no numbers; it must not change the verdict.
    return rows + [{"dim": 128, "estimator": "hutchinson_fresh", "seconds_per_step": None,
                    "nfe": None, "seconds_per_nfe": None, "variance": None}]  # fmt: skip


@pytest.mark.parametrize(("powers", "verdict"), [
    ((2.0, 1.0), REPRODUCED),
    ((2.0, 2.0), NOT_REPRODUCED),
    ((0.2, 0.1), INCONCLUSIVE),  # the exact trace's cost does not grow at these D
])  # fmt: skip
def test_hutchinson_slope_must_be_clearly_below_the_exact_traces(
    tmp_path, reference, powers, verdict
):
    write(tmp_path, "trace_estimator.csv", trace(*powers))
    row = decide("hutchinson_linear_in_dim", tmp_path, reference)
    assert row["verdict"] == verdict
    assert "seconds per evaluation" in row["measured"]


# -- the registry and the entry point ---------------------------------------------------


def test_registry_holds_every_claim_in_report_order():
    assert list(CLAIMS) == EXPECTED_CLAIMS


def test_unknown_claim_names_the_known_ones(tmp_path, reference):
    with pytest.raises(ValueError, match="unknown claim 'nope'; known: odenet_matches_resnet"):
        decide("nope", tmp_path, reference)


def test_a_claim_without_a_source_in_the_reference_fails_naming_the_key(tmp_path, reference):
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


def test_hutchinson_claim_reads_the_exponent_where_fixed_costs_no_longer_dominate(
    tmp_path, reference
):
    # A fixed 1 ms per evaluation flattens both curves at small D; between the two largest
    # D the exact trace's quadratic and Hutchinson's linear growth show.
    rows = [
        {"dim": d, "estimator": estimator, "seconds_per_step": 10 * cost, "nfe": 10,
         "seconds_per_nfe": cost, "variance": 0.0}
        for d in (2, 8, 32, 128, 512)
        for estimator, cost in (("exact", 1e-3 + 1e-7 * d**2), ("hutchinson", 1e-3 + 1e-7 * d))
    ]  # fmt: skip
    write(tmp_path, "trace_estimator.csv", rows)
    row = decide("hutchinson_linear_in_dim", tmp_path, reference)
    assert row["verdict"] == REPRODUCED
    assert "from 128 to 512" in row["measured"]
