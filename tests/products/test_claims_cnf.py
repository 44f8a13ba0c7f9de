"""The flow claims: density matching (Figure 4), likelihood (Figure 5), trace estimator,
and Hutchinson's noise held fixed over a solve."""

import numpy as np
import pandas as pd
import pytest

from odebench.products.claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, UNTESTED
from odebench.products.claims.cnf import decide_trace


def trained(n_seeds=3, convergence="converged"):
    """The convergence columns of a flow table's row (every seed converged by default)."""
    converged = n_seeds if convergence == "converged" else n_seeds - 1
    return {"iterations": 2000, "convergence": convergence, "n_converged": converged}


def density(cnf_better=True, cnf_trend=-1.0, nf_trend=None, n_seeds=3):
    """KL by capacity; the NF follows the CNF's trend unless ``nf_trend`` is given."""
    rows = []
    for target in ("ring", "grid", "moons"):
        for capacity in (2, 8, 32):
            cnf = 1.0 + cnf_trend * 0.2 * np.log2(capacity)
            trend = cnf_trend if nf_trend is None else nf_trend
            nf = 1.0 + trend * 0.2 * np.log2(capacity) + (0.5 if cnf_better else -0.5)
            for model, kl, params in (
                ("cnf", cnf, 1200 + 160 * capacity),
                ("nf", nf, 5 * capacity),
            ):
                rows.append({"target": target, "model": model, "capacity": capacity,
                             "n_seeds": n_seeds, "kl_mean": kl, "kl_std": 0.05,
                             "params_mean": params} | trained(n_seeds))  # fmt: skip
    return rows


@pytest.mark.parametrize(("kwargs", "verdict"), [
    ({}, REPRODUCED),
    ({"cnf_better": False}, NOT_REPRODUCED),
    ({"cnf_trend": 1.0}, NOT_REPRODUCED),  # CNF worse with width
])  # fmt: skip
def test_cnf_width_against_nf_depth(tmp_path, reference, kwargs, verdict, write, decide):
    write(tmp_path, "cnf_density_matching.csv", density(**kwargs))
    row = decide("cnf_width_vs_nf_depth", tmp_path, reference)
    assert row["verdict"] == verdict, row["evidence"]


def test_cnf_width_claim_is_not_called_reproduced_when_the_nf_does_not_gain_from_depth(
    tmp_path, reference, write, decide
):
    # The CNF improves with width and beats the NF, but the NF's KL is flat in K: the
    # half "an NF must deepen" is not shown. Before, the claim was reproduced on the CNF
    # half alone; now it stays inconclusive (a deeper NF clearly worse refutes it, below).
    write(tmp_path, "cnf_density_matching.csv", density(nf_trend=0.0))
    row = decide("cnf_width_vs_nf_depth", tmp_path, reference)
    assert row["verdict"] == INCONCLUSIVE
    assert "depth helps the NF at every step on 0/3" in row["measured"]
    assert row["evidence"].startswith("the NF's KL does not fall from grid K = 2 → 8 (1.5 → 1.5)")
    assert "depth inconclusive (0/3 shown, 0/3 contradicted)" in row["sensitivity"]


def test_cnf_width_claim_fails_when_a_deeper_nf_fits_worse(tmp_path, reference, write, decide):
    write(tmp_path, "cnf_density_matching.csv", density(nf_trend=0.5))
    row = decide("cnf_width_vs_nf_depth", tmp_path, reference)
    assert row["verdict"] == NOT_REPRODUCED
    assert "depth not reproduced (0/3 shown, 3/3 contradicted)" in row["sensitivity"]


def test_cnf_width_claim_states_the_parameter_counts(tmp_path, reference, write, decide):
    write(tmp_path, "cnf_density_matching.csv", density())
    row = decide("cnf_width_vs_nf_depth", tmp_path, reference)
    assert row["measured"].endswith(
        "params at capacity 2 / 8 / 32: CNF 1520 / 2480 / 6320, NF 10 / 40 / 160"
    )
    assert "K = M is not equal parameters" in row["evidence"]


def test_cnf_width_claim_needs_three_seeds(tmp_path, reference, write, decide):
    write(tmp_path, "cnf_density_matching.csv", density(n_seeds=2))
    row = decide("cnf_width_vs_nf_depth", tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert row["testable_when"] == (
        "cnf_density_matching.csv: ≥ 3 seeds per arm; every compared arm converged (its "
        "validation loss flat near its best at the end of training)"
    )


def likelihood(moons=(1.6, 1.2), circles=(1.6, 1.2), std=0.02):
    return [
        {"dataset": dataset, "model": model, "n_seeds": 3, "test_nll_mean": nll,
         "test_nll_std": std, "nfe_forward": 20, "params_mean": 320 if model == "nf" else 11680}
        | trained()
        for dataset, (nf, cnf) in (("two_circles", circles), ("two_moons", moons))
        for model, nll in (("nf", nf), ("cnf", cnf))
    ]  # fmt: skip


def test_cnf_with_lower_nll_on_both_data_sets_is_reproduced(tmp_path, reference, write, decide):
    write(tmp_path, "cnf_max_likelihood.csv", likelihood())
    row = decide("cnf_two_moons_likelihood", tmp_path, reference)
    assert row["verdict"] == REPRODUCED
    # Both of Figure 5's data sets now, with the parameter counts (it read two moons only).
    assert row["measured"] == (
        "test NLL: two_moons: NF 1.6 ± 0.02 (n = 3) vs CNF 1.2 ± 0.02 (n = 3); two_circles: NF "
        "1.6 ± 0.02 (n = 3) vs CNF 1.2 ± 0.02 (n = 3); params two_moons: CNF 11680, NF 320; "
        "two_circles: CNF 11680, NF 320"
    )


@pytest.mark.parametrize(("circles", "verdict"), [
    ((1.2, 1.6), NOT_REPRODUCED),  # the NF better on two circles
    ((1.6, 1.59), INCONCLUSIVE),  # two circles undecided
])  # fmt: skip
def test_two_moons_alone_does_not_decide_figure_5(
    tmp_path, reference, circles, verdict, write, decide
):
    write(tmp_path, "cnf_max_likelihood.csv", likelihood(circles=circles))
    assert decide("cnf_two_moons_likelihood", tmp_path, reference)["verdict"] == verdict


def test_likelihood_without_two_circles_is_untested(tmp_path, reference, write, decide):
    rows = [r for r in likelihood() if r["dataset"] == "two_moons"]
    write(tmp_path, "cnf_max_likelihood.csv", rows)
    row = decide("cnf_two_moons_likelihood", tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert "has no row with dataset=two_circles" in row["evidence"]


@pytest.mark.parametrize("status", ["still_improving", "unstable", "unjudged"])
def test_a_flow_claim_with_an_arm_not_converged_is_untested_and_names_it(
    tmp_path, reference, status, write, decide
):
    rows = density()
    rows[3] |= trained(convergence=status)  # ring, NF K = 8
    write(tmp_path, "cnf_density_matching.csv", rows)
    row = decide("cnf_width_vs_nf_depth", tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert f"ring nf 8 {status.replace('_', ' ')} (2/3 seeds converged)" in row["evidence"]
    likely = likelihood()
    likely[0] |= trained(convergence=status)  # two circles, NF
    write(tmp_path, "cnf_max_likelihood.csv", likely)
    row = decide("cnf_two_moons_likelihood", tmp_path, reference)
    assert row["verdict"] == UNTESTED
    assert f"two_circles nf {status.replace('_', ' ')}" in row["evidence"]


def test_a_flow_table_without_convergence_columns_leaves_its_claim_untested(
    tmp_path, reference, write, decide
):
    rows = [{k: v for k, v in r.items() if k not in trained()} for r in density()]
    write(tmp_path, "cnf_density_matching.csv", rows)
    assert decide("cnf_width_vs_nf_depth", tmp_path, reference)["verdict"] == UNTESTED


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


# The exact trace's cost growing ×2.3 from D = 2 to 128 was inconclusive; the run cannot
# show the trace's work there, so it is now untested.
@pytest.mark.parametrize(("powers", "verdict"), [
    ((2.0, 1.0), REPRODUCED),
    ((2.0, 2.0), NOT_REPRODUCED),
    ((0.2, 0.1), UNTESTED),  # the exact trace's cost does not grow at these D
])  # fmt: skip
def test_hutchinson_slope_must_be_clearly_below_the_exact_traces(
    tmp_path, reference, powers, verdict, write, decide
):
    write(tmp_path, "trace_estimator.csv", trace(*powers))
    row = decide("hutchinson_linear_in_dim", tmp_path, reference)
    assert row["verdict"] == verdict
    if verdict != UNTESTED:
        assert "seconds per evaluation" in row["measured"]
    else:
        assert "the exact trace's cost rises only ×2.3 from D = 2 to 128" in row["evidence"]


def test_hutchinson_claim_reads_the_exponent_where_fixed_costs_no_longer_dominate(
    tmp_path, reference, write, decide
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


def fixed_cost(dims, fixed=1e-3, exact=1e-7, hutchinson=1e-7):
    """Seconds per evaluation: a fixed cost plus exact D² and Hutchinson D work."""
    return pd.DataFrame(
        {"exact": [fixed + exact * d**2 for d in dims],
         "hutchinson": [fixed + hutchinson * d for d in dims]},
        index=list(dims),
    )  # fmt: skip


#: The committed cpu study's seconds per evaluation (ms) at D = 2, 8, 32, 128.
CPU_COSTS = {"exact": [1.108, 2.371, 7.555, 55.60], "hutchinson": [0.968, 0.922, 1.073, 2.564]}


@pytest.mark.parametrize("dims", [
    (2, 8, 32, 128, 512, 1024),
    (2, 8, 32, 128, 512),  # without the largest
    (8, 32, 128, 512, 1024),  # without the smallest
    (32, 128, 512),  # the middle
    (128, 512, 1024),  # where the trace's work dominates
])  # fmt: skip
def test_hutchinson_verdict_is_stable_under_the_choice_of_window(dims):
    verdict, exponents, shows, why = decide_trace(fixed_cost(dims))
    assert (verdict, why) == (REPRODUCED, "")
    assert min(exponents.values()) >= 0.5


@pytest.mark.parametrize("drop", [None, 2, 128])
def test_hutchinson_verdict_on_the_cpu_costs_does_not_depend_on_the_window(drop):
    # Raw log-log slopes flip the old rule with the window (exact 1.44 between the two
    # largest D, 0.93 over all); the ratio over D that show the trace's work does not.
    costs = pd.DataFrame(CPU_COSTS, index=[2, 8, 32, 128])
    if drop is not None:
        costs = costs.drop(index=drop)
    verdict, exponents, _, _ = decide_trace(costs)
    assert verdict == REPRODUCED
    assert 0.7 < min(exponents.values()) <= max(exponents.values()) < 0.85


def test_hutchinson_as_costly_as_the_exact_trace_is_not_reproduced_in_any_window():
    costs = fixed_cost((2, 8, 32, 128, 512), hutchinson=0.0)
    costs["hutchinson"] = costs["exact"] * 0.9
    verdict, exponents, _, _ = decide_trace(costs)
    assert verdict == NOT_REPRODUCED
    assert max(abs(e) for e in exponents.values()) < 1e-9


def noise(fresh_nfe=(400.0, 200.0), exhausted_from=32):
    rows = []
    for d in (2, 8, 32, 128):
        rows.append({"dim": d, "estimator": "hutchinson", "nfe": 20.0, "nfe_std": 3.0,
                     "n_seeds": 3, "n_failed": 0, "failure": ""})  # fmt: skip
        if d >= exhausted_from:
            rows.append({"dim": d, "estimator": "hutchinson_fresh", "nfe": None,
                         "nfe_std": None, "n_seeds": 0, "n_failed": 3,
                         "failure": "step_budget_exhausted: max_num_steps exceeded (500>=500)"})  # fmt: skip
        else:
            mean, std = fresh_nfe
            rows.append({"dim": d, "estimator": "hutchinson_fresh", "nfe": mean,
                         "nfe_std": std, "n_seeds": 3, "n_failed": 0, "failure": ""})  # fmt: skip
    return rows


@pytest.mark.parametrize(("kwargs", "verdict"), [
    ({}, REPRODUCED),
    ({"fresh_nfe": (40.0, 3.0), "exhausted_from": 1000}, NOT_REPRODUCED),  # only ×2
    ({"fresh_nfe": (150.0, 120.0)}, INCONCLUSIVE),  # a seed may be below ×4
])  # fmt: skip
def test_fresh_hutchinson_noise_explodes_the_solvers_work(
    tmp_path, reference, kwargs, verdict, write, decide
):
    write(tmp_path, "trace_estimator.csv", noise(**kwargs))
    row = decide("hutchinson_noise_fixed_per_solve", tmp_path, reference)
    assert row["verdict"] == verdict
    assert (row["origin"], row["paper_claim"]) == ("ours", False)


def test_fresh_noise_reports_every_seeds_factor_and_the_exhausted_budget(
    tmp_path, reference, write, decide
):
    write(tmp_path, "trace_estimator.csv", noise())
    row = decide("hutchinson_noise_fixed_per_solve", tmp_path, reference)
    # Fresh 400 ± 200 over 3 seeds: smallest seed ≥ 400 - 200 * 2 / sqrt(3) = 169; fixed
    # 20 ± 3: largest ≤ 23.5. Every seed ≥ ×7.2.
    assert (
        "D = 2: fixed 20 ± 3 (n = 3), fresh 400 ± 200 (n = 3), every seed ≥ ×7.2"
        in (row["measured"])
    )
    assert (
        "D = 32: fixed 20 ± 3 (n = 3); fresh exhausted the step budget on all 3 seeds"
        in (row["measured"])
    )
