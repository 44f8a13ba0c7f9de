"""The MNIST claims: Table 1, memory scaling, and Figure 3 with its solver studies."""

import numpy as np
import pytest

from odebench.products.claims import NOT_REPRODUCED, REPRODUCED


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


def test_odenet_close_to_resnet_with_a_third_of_the_params_is_reproduced(
    tmp_path, reference, write, decide
):
    write(tmp_path, "table1_mnist.csv", table1())
    row = decide("odenet_matches_resnet", tmp_path, reference)
    assert row["verdict"] == REPRODUCED
    assert "ODE-Net (tol 0.001) 0.42 ± 0.01% (n = 3)" in row["measured"]  # the paper's tol
    assert row["paper_value"] == "ODE-Net 0.42% vs ResNet 0.41%; params 0.22 M / 0.6 M = 0.37"


def test_odenet_with_as_many_params_as_the_resnet_is_not_reproduced(
    tmp_path, reference, write, decide
):
    write(tmp_path, "table1_mnist.csv", table1(odenet_params=600_000))
    assert decide("odenet_matches_resnet", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_odenet_clearly_worse_than_resnet_is_not_reproduced(tmp_path, reference, write, decide):
    write(tmp_path, "table1_mnist.csv", table1(odenet=(1.0, 0.01)))
    assert decide("odenet_matches_resnet", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_rknet_far_from_odenet_is_not_reproduced_and_close_is_reproduced(
    tmp_path, reference, write, decide
):
    write(tmp_path, "table1_mnist.csv", table1(rknet=(0.43, 0.01)))
    assert decide("rknet_matches_odenet", tmp_path, reference)["verdict"] == REPRODUCED
    write(tmp_path, "table1_mnist.csv", table1(rknet=(2.0, 0.01)))
    assert decide("rknet_matches_odenet", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_stem_better_than_odenet_counts_as_comparable(tmp_path, reference, write, decide):
    write(tmp_path, "table1_mnist.csv", table1(stem=(0.3, 0.01)))
    assert decide("stem_alone_matches_odenet", tmp_path, reference)["verdict"] == REPRODUCED


def test_odenet_falls_back_to_the_tightest_trained_tolerance(tmp_path, reference, write, decide):
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


def test_constant_adjoint_memory_is_reproduced_and_growing_is_not(
    tmp_path, reference, write, decide
):
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


def test_error_falling_with_nfe_is_reproduced_and_rising_is_not(tmp_path, reference, write, decide):
    write(tmp_path, "work_precision.csv", work_precision(error_exponent=-3))
    assert decide("error_falls_with_nfe", tmp_path, reference)["verdict"] == REPRODUCED
    write(tmp_path, "work_precision.csv", work_precision(error_exponent=0.5))
    assert decide("error_falls_with_nfe", tmp_path, reference)["verdict"] == NOT_REPRODUCED


def test_looser_test_tolerance_is_a_cheap_trade_unless_error_jumps(
    tmp_path, reference, write, decide
):
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
    tmp_path, reference, r2, intercept, verdict, write, decide
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
def test_backward_nfe_ratio_is_judged_against_the_papers_half(
    tmp_path, reference, ratio, verdict, write, decide
):
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
def test_nfe_rising_over_training_is_reproduced_and_flat_is_not(
    tmp_path, reference, rise, verdict, write, decide
):
    write(tmp_path, "nfe_over_training.csv", over_training(rise))
    assert decide("nfe_rises_during_training", tmp_path, reference)["verdict"] == verdict
