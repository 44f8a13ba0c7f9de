import copy
import json

import pandas as pd
import pytest
import torch
from conftest import PROBE_SPEC, LinearDecay

from odebench.core.solving import CountedDynamics
from odebench.mnist import probe as probing
from odebench.pipeline import paths


def test_round_trip_returns_to_the_start_of_a_linear_ode_at_tight_tolerance():
    h0 = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    trip = probing.round_trip(CountedDynamics(LinearDecay()), h0, tol=1e-10)
    assert trip["reconstruction_error"] < 1e-8
    assert trip["nfe_forward"] > 0 and trip["nfe_reverse"] > 0


def test_round_trip_error_grows_as_the_tolerance_loosens():
    h0 = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    errors = [
        probing.round_trip(CountedDynamics(LinearDecay(k=4.0)), h0, tol=tol)["reconstruction_error"]
        for tol in (1e-10, 1e-6, 1e-2)
    ]
    assert errors[0] < errors[1] < errors[2]


def test_relative_error_is_zero_for_equal_tensors_and_scale_free():
    x = torch.tensor([3.0, 4.0])
    assert probing.relative_error(x, x) == 0.0
    assert probing.relative_error(x + torch.tensor([0.3, 0.4]), x) == pytest.approx(0.1)
    assert probing.relative_error(10 * x + torch.tensor([3.0, 4.0]), 10 * x) == pytest.approx(0.1)


def test_sweep_cases_list_adaptive_tolerances_then_fixed_step_counts(probe_spec):
    cases = list(probing.sweep_cases(probe_spec))
    assert cases == [
        ("dopri5", "tol", 0.1), ("dopri5", "tol", 1e-4), ("bosh3", "tol", 0.01),
        ("rk4", "steps", 2), ("euler", "steps", 1), ("euler", "steps", 4),
    ]  # fmt: skip


def probe_run(train_dir, spec=PROBE_SPEC, **changes) -> dict:
    """A probe's run config as the pipeline sends it: settings plus the run it probes."""
    return copy.deepcopy(spec) | {
        "family": "probe", "budget": "smoke", "arm": "odenet-tol0.1", "seed": 0,
        "train_dir": str(train_dir), "device": "cpu",
    } | changes  # fmt: skip


@pytest.fixture(scope="module")
def probed(trained_odenet, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe")
    metrics = probing.probe(probe_run(trained_odenet), out)
    return out, metrics


def test_probe_writes_one_sweep_row_per_case_with_counted_nfe(probed, probe_spec, trained_odenet):
    out, metrics = probed
    sweep = pd.read_csv(out / paths.SWEEP_CSV)
    assert len(sweep) == len(list(probing.sweep_cases(probe_spec)))
    assert (sweep["status"] == "completed").all()
    fixed = sweep[sweep["kind"] == "steps"].set_index(["solver", "tol_or_steps"])["nfe_forward"]
    assert fixed[("rk4", 2)] == 8 and fixed[("euler", 1)] == 1 and fixed[("euler", 4)] == 4
    assert sweep["error"].between(0, 10).all()
    assert sweep["test_error_pct"].between(0, 100).all()
    assert metrics["train_tol"] == 0.1 and metrics["seed"] == 0
    assert metrics["family"] == "probe" and metrics["arm"] == "odenet-tol0.1"
    assert metrics["status"] == "completed" and metrics["spec"] == PROBE_SPEC
    assert json.loads((out / paths.CONFIG_JSON).read_text()) == probe_run(trained_odenet)


def test_probe_error_falls_as_the_test_time_tolerance_tightens(probed):
    sweep = pd.read_csv(probed[0] / paths.SWEEP_CSV).set_index(["solver", "tol_or_steps"])
    assert sweep.loc[("dopri5", 1e-4), "error"] < sweep.loc[("dopri5", 0.1), "error"]
    assert sweep.loc[("dopri5", 1e-4), "nfe_forward"] > sweep.loc[("dopri5", 0.1), "nfe_forward"]
    assert sweep.loc[("euler", 4), "error"] < sweep.loc[("euler", 1), "error"]


def test_probe_reversibility_and_adjoint_gradients_improve_with_tolerance(probed):
    table = pd.read_csv(probed[0] / paths.REVERSIBILITY_CSV).set_index("tol")
    assert table.loc[1e-5, "reconstruction_error"] < table.loc[1e-2, "reconstruction_error"]
    assert table.loc[1e-5, "grad_rel_error"] < table.loc[1e-2, "grad_rel_error"]
    assert (table["nfe_backward_adjoint"] > 0).all()


def test_probe_counts_backward_nfe_per_image_for_every_arm(probed):
    table = pd.read_csv(probed[0] / paths.BACKWARD_NFE_CSV)
    arms = {(label, scope) for label, _, _, scope in probing.BACKWARD_ARMS}
    assert set(zip(table["solver"], table["adjoint"], strict=True)) == arms
    assert len(table) == 2 * len(arms)
    assert (table["nfe_forward"] > 0).all() and (table["nfe_backward"] > 0).all()


def test_probe_without_weights_says_how_to_get_them(trained_odenet, tmp_path, probe_spec):
    run = tmp_path / "run"
    run.mkdir()
    (run / paths.CONFIG_JSON).write_text((trained_odenet / paths.CONFIG_JSON).read_text())
    with pytest.raises(FileNotFoundError, match="forcerun train_mnist"):
        probing.probe(probe_run(run, probe_spec), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_probe_of_another_seed_than_the_trained_run_fails_before_writing(trained_odenet, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="seed 1 does not match the seed 0"):
        probing.probe(probe_run(trained_odenet, seed=1), out)
    assert probing.main(["--run-config", json.dumps(probe_run(trained_odenet, seed=1)),
                         "--out", str(out)]) == 1  # fmt: skip
    assert not out.exists()
