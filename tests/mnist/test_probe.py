import copy
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from odebench.core import paths, solving
from odebench.core.solving import DEFAULT_BACKEND, CountedDynamics
from odebench.mnist import probe as probing


def _root_conftest():
    """tests/conftest.py, loaded by its path: ``from conftest import`` gets whichever
    conftest.py pytest imported last, tests/products/conftest.py when that directory is
    collected before this file."""
    spec = importlib.util.spec_from_file_location(
        "odebench_tests_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_shared = _root_conftest()
PROBE_SPEC, LinearDecay = _shared.PROBE_SPEC, _shared.LinearDecay


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
    cases = list(probing.sweep_cases(probe_spec | {"sweep_backends": ["lean"]}))
    assert cases == [
        ("dopri5", "tol", 0.1, "lean"), ("dopri5", "tol", 1e-4, "lean"),
        ("bosh3", "tol", 0.01, "lean"), ("rk4", "steps", 2, "lean"),
        ("euler", "steps", 1, "lean"), ("euler", "steps", 4, "lean"),
    ]  # fmt: skip


def test_a_spec_without_sweep_backends_sweeps_with_the_default_backend(probe_spec):
    assert {case[-1] for case in probing.sweep_cases(probe_spec)} == {DEFAULT_BACKEND}


def test_adaptive_cases_run_with_every_backend_offering_them_fixed_grids_with_the_first(
    probe_spec,
):
    cases = list(probing.sweep_cases(probe_spec | {"sweep_backends": ["lean", "torchode"]}))
    assert cases == [
        ("dopri5", "tol", 0.1, "lean"), ("dopri5", "tol", 0.1, "torchode"),
        ("dopri5", "tol", 1e-4, "lean"), ("dopri5", "tol", 1e-4, "torchode"),
        ("bosh3", "tol", 0.01, "lean"),  # torchode has no bosh3
        ("rk4", "steps", 2, "lean"), ("euler", "steps", 1, "lean"),
        ("euler", "steps", 4, "lean"),
    ]  # fmt: skip


def test_a_first_backend_without_a_fixed_grid_method_leaves_those_cases_out(probe_spec):
    cases = list(probing.sweep_cases(probe_spec | {"sweep_backends": ["torchode", "lean"]}))
    fixed = [case for case in cases if case[1] == "steps"]
    assert fixed == [("euler", "steps", 1, "torchode"), ("euler", "steps", 4, "torchode")]
    assert ("bosh3", "tol", 0.01, "lean") in cases


def test_only_torchode_lacks_methods_among_the_backends():
    assert solving.supports("lean", "bosh3") and solving.supports("torchdiffeq", "rk4")
    assert solving.supports("torchode", "dopri5") and not solving.supports("torchode", "bosh3")


@pytest.mark.parametrize("backends", [[], ["lean", "scipy"]])
def test_unknown_or_no_sweep_backends_fail_naming_the_known_ones(probe_spec, backends):
    with pytest.raises(ValueError, match="torchdiffeq, lean, torchode"):
        list(probing.sweep_cases(probe_spec | {"sweep_backends": backends}))


#: The probe the tests run: the shared small spec, swept with both kinds of step control.
SPEC = PROBE_SPEC | {"sweep_backends": ["lean", "torchode"]}


def probe_run(train_dir, spec=SPEC, **changes) -> dict:
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


def test_probe_writes_one_sweep_row_per_case_with_counted_nfe(probed, trained_odenet):
    out, metrics = probed
    sweep = pd.read_csv(out / paths.SWEEP_CSV)
    cases = list(probing.sweep_cases(SPEC))
    assert list(sweep.columns) == list(probing.SWEEP_FIELDS)
    assert list(zip(sweep["solver"], sweep["backend"], strict=True)) == [
        (solver, backend) for solver, _, _, backend in cases
    ]
    assert (sweep["status"] == "completed").all()
    fixed = sweep[sweep["kind"] == "steps"].set_index(["solver", "tol_or_steps"])["nfe_forward"]
    assert fixed[("rk4", 2)] == 8 and fixed[("euler", 1)] == 1 and fixed[("euler", 4)] == 4
    assert sweep["error"].between(0, 10).all()
    assert sweep["test_error_pct"].between(0, 100).all()
    assert metrics["train_tol"] == 0.1 and metrics["seed"] == 0
    assert metrics["family"] == "probe" and metrics["arm"] == "odenet-tol0.1"
    assert metrics["status"] == "completed" and metrics["spec"] == SPEC
    assert json.loads((out / paths.CONFIG_JSON).read_text()) == probe_run(trained_odenet)


def test_probe_classifies_the_whole_test_set_at_dopri5s_tightest_and_loosest_tolerance(probed):
    out, _ = probed
    sweep = pd.read_csv(out / paths.SWEEP_CSV)
    whole = sweep.dropna(subset=["all_test_error_pct"])
    # The first backend's dopri5 at 1e-1 and 1e-4, on all 48 test images of the fixture.
    assert sorted(zip(whole["solver"], whole["backend"], whole["tol_or_steps"], strict=True)) == [
        ("dopri5", "lean", 1e-4), ("dopri5", "lean", 1e-1)]  # fmt: skip
    assert (whole["all_images"] == 48).all()
    assert whole["all_test_error_pct"].between(0, 100).all()
    # Joint step control: the batch's NFE is dopri5's 2 + 6k, so looser takes no more.
    nfe = whole.set_index("tol_or_steps")["all_nfe_forward"]
    assert 0 < nfe[1e-1] <= nfe[1e-4]


def test_a_probe_config_from_before_the_whole_test_set_counts_only_its_images(
    trained_odenet, tmp_path
):
    spec = {k: v for k, v in SPEC.items() if k != "tradeoff_images"}
    probing.probe(probe_run(trained_odenet, spec), tmp_path)
    sweep = pd.read_csv(tmp_path / paths.SWEEP_CSV)
    assert set(sweep["all_images"].dropna()) == {16}


@pytest.mark.parametrize("backend", ["lean", "torchode"])
def test_probe_error_falls_as_the_test_time_tolerance_tightens(probed, backend):
    sweep = pd.read_csv(probed[0] / paths.SWEEP_CSV)
    sweep = sweep[sweep["backend"] == backend].set_index(["solver", "tol_or_steps"])
    assert sweep.loc[("dopri5", 1e-4), "error"] < sweep.loc[("dopri5", 0.1), "error"]
    assert sweep.loc[("dopri5", 1e-4), "nfe_forward"] > sweep.loc[("dopri5", 0.1), "nfe_forward"]
    if backend == "lean":
        assert sweep.loc[("euler", 4), "error"] < sweep.loc[("euler", 1), "error"]


def test_probe_reversibility_and_adjoint_gradients_improve_with_tolerance(probed):
    table = pd.read_csv(probed[0] / paths.REVERSIBILITY_CSV).set_index("tol")
    assert table.loc[1e-5, "reconstruction_error"] < table.loc[1e-2, "reconstruction_error"]
    assert table.loc[1e-5, "grad_rel_error"] < table.loc[1e-2, "grad_rel_error"]
    assert (table["nfe_backward_adjoint"] > 0).all()


def test_probe_counts_backward_nfe_per_image_for_every_arm(probed):
    table = pd.read_csv(probed[0] / paths.BACKWARD_NFE_CSV)
    arms = {(label, scope) for label, _, _, scope, _ in probing.BACKWARD_ARMS}
    assert set(zip(table["solver"], table["adjoint"], strict=True)) == arms
    assert len(table) == 2 * len(arms)
    assert (table["nfe_forward"] > 0).all() and (table["nfe_backward"] > 0).all()


def test_the_seminorm_arm_is_dopri5s_full_adjoint_with_the_seminorm():
    arms = {label: (method, scope, norm) for label, method, _, scope, norm in probing.BACKWARD_ARMS}
    assert arms["dopri5+seminorm"] == ("dopri5", "full", "seminorm")
    full = [arm for arm in probing.BACKWARD_ARMS if arm[0] == "dopri5" and arm[3] == "full"]
    assert [arm[4] for arm in full] == ["full"]


def test_the_seminorm_changes_only_the_backward_solve(probed):
    table = pd.read_csv(probed[0] / paths.BACKWARD_NFE_CSV)
    full = table[table["solver"].eq("dopri5") & table["adjoint"].eq("full")].set_index("image")
    semi = table[table["solver"].eq("dopri5+seminorm")].set_index("image")
    assert list(semi["adjoint"].unique()) == ["full"]
    assert semi["nfe_forward"].equals(full["nfe_forward"])


def test_probe_without_weights_says_how_to_get_them(trained_odenet, tmp_path, probe_spec):
    run = tmp_path / "run"
    run.mkdir()
    (run / paths.CONFIG_JSON).write_text((trained_odenet / paths.CONFIG_JSON).read_text())
    with pytest.raises(FileNotFoundError, match="forcerun train_mnist"):
        probing.probe(probe_run(run, probe_spec), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_probe_with_an_unknown_sweep_backend_fails_before_writing(trained_odenet, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="unknown sweep backend"):
        probing.probe(probe_run(trained_odenet, sweep_backends=["lean", "jax"]), out)
    assert not out.exists()


def test_probe_of_another_seed_than_the_trained_run_fails_before_writing(trained_odenet, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="seed 1 does not match the seed 0"):
        probing.probe(probe_run(trained_odenet, seed=1), out)
    assert probing.main(["--run-config", json.dumps(probe_run(trained_odenet, seed=1)),
                         "--out", str(out)]) == 1  # fmt: skip
    assert not out.exists()
