import json

import numpy as np
import pytest
import torch
from torchdiffeq import odeint

from odebench.pipeline import paths
from odebench.spirals import data as spirals_data
from odebench.spirals import train as sequences
from odebench.spirals.data import (
    irregular_indices,
    load_spirals,
    make_spirals,
    subsample,
    write_spirals,
)
from odebench.spirals.models import LatentODE, RNNBaseline, build_sequence_model, gaps_to_next


@pytest.fixture(scope="module")
def spirals():
    return make_spirals(n_spirals=40, noise_std=0.3, seed=5)


def test_spirals_have_the_documented_shapes(spirals):
    assert spirals["times"].shape == (200,)
    assert spirals["truth"].shape == (40, 200, 2)
    assert spirals["observed"].shape == (40, 100, 2)
    assert spirals["times"][0] == 0 and np.all(np.diff(spirals["times"]) > 0)


def test_half_the_spirals_turn_each_way_in_both_splits(spirals):
    direction, test = spirals["direction"], spirals["is_test"]
    assert (direction == 1).sum() == (direction == -1).sum() == 20
    assert (direction[test] == 1).sum() == (direction[test] == -1).sum() == 4
    # the sign of the angular momentum x*dy - y*dx is the direction of rotation
    x, y = spirals["truth"][..., 0], spirals["truth"][..., 1]
    spin = np.sign((x[:, :-1] * np.diff(y) - y[:, :-1] * np.diff(x)).sum(1))
    assert np.array_equal(spin, direction)


def test_observations_carry_the_configured_noise_and_start_points_differ(spirals):
    noise = spirals["observed"] - spirals["truth"][:, :100]
    assert noise.std() == pytest.approx(0.3, rel=0.05)
    assert abs(noise.mean()) < 0.02
    assert len(set(spirals["start"].tolist())) > 30


def test_the_generator_is_deterministic_in_its_seed(tmp_path):
    write_spirals(tmp_path / "a.npz", {"n_spirals": 10, "seed": 1})
    a, b = load_spirals(tmp_path / "a.npz"), make_spirals(n_spirals=10, seed=1)
    assert np.array_equal(a["observed"], b["observed"])
    assert a["spec"] == {"n_spirals": 10, "seed": 1}
    assert not np.array_equal(b["observed"], make_spirals(n_spirals=10, seed=2)["observed"])


def test_data_entry_point_takes_a_run_config_and_generates_from_its_settings_only(tmp_path):
    settings = {"n_spirals": 10, "seed": 3, "noise_std": 0.2}
    run = settings | {"family": "spirals_data", "budget": "smoke"}
    out = tmp_path / "spirals.npz"
    assert spirals_data.main(["--run-config", json.dumps(run), "--out", str(out)]) == 0
    data = load_spirals(out)
    assert data["spec"] == settings  # the budget's name is not part of the data
    assert np.array_equal(data["observed"], make_spirals(**settings)["observed"])


def test_data_entry_point_reports_bad_settings_in_one_line(tmp_path, capsys):
    run = {"n_spirals": 3, "family": "spirals_data", "budget": "smoke"}
    out = tmp_path / "spirals.npz"
    assert spirals_data.main(["--run-config", json.dumps(run), "--out", str(out)]) == 1
    assert "n_spirals must be even" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("n_obs", [1, 30, 100])
def test_irregular_sampler_returns_n_distinct_sorted_indices_of_the_first_100(n_obs):
    index = irregular_indices(np.random.default_rng(0), n_obs)
    assert len(index) == len(set(index.tolist())) == n_obs
    assert np.all(np.diff(index) > 0)
    assert index.min() >= 0 and index.max() < 100


def test_each_trajectory_gets_its_own_sample(spirals):
    index = subsample(spirals["observed"], 30, seed=0)
    assert index.shape == (40, 30)
    assert len({tuple(row) for row in index.tolist()}) > 1


def test_irregular_sampler_rejects_impossible_counts():
    with pytest.raises(ValueError, match=r"n_obs must be in \[1, 100\]"):
        irregular_indices(np.random.default_rng(0), 101)


def test_latent_ode_extrapolation_is_the_integral_of_its_own_dynamics():
    torch.manual_seed(0)
    model = LatentODE({"tol": 1e-7, "gradient": "direct"})
    x, times = torch.randn(3, 5, 2), torch.sort(torch.rand(3, 5), dim=1).values
    grid = torch.linspace(0, 3, 40)
    out = model.predict(x, times, grid)
    mean, _ = model.encoder(x, times)
    with torch.no_grad():
        path = odeint(model.dynamics.func, mean, grid, rtol=1e-7, atol=1e-7).transpose(0, 1)
    torch.testing.assert_close(out["z"], path, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["x"], model.decoder(path), rtol=1e-4, atol=1e-5)


def test_rnn_with_time_gaps_sees_them_and_the_plain_rnn_does_not():
    x, times = torch.randn(2, 4, 2), torch.tensor([[0.0, 0.1, 0.5, 0.6], [0.0, 0.3, 0.4, 0.9]])
    future = torch.tensor([1.0, 1.1])
    torch.manual_seed(0)
    with_dt = RNNBaseline({}, use_dt=True)
    torch.manual_seed(0)
    plain = RNNBaseline({}, use_dt=False)
    assert with_dt.cell.input_size == 3 and plain.cell.input_size == 2
    assert with_dt.predict(x, times, future)["x"].shape == (2, 2, 2)
    torch.testing.assert_close(gaps_to_next(times)[0, :, 0], torch.tensor([0.1, 0.4, 0.1, 0.0]))


def test_rmse_is_against_the_given_truth():
    truth = torch.zeros(2, 3, 2)
    assert sequences.rmse(truth + 0.5, truth) == pytest.approx(0.5)


def test_unknown_sequence_model_names_the_known_ones():
    with pytest.raises(ValueError, match="known: rnn, rnn_dt, latent_ode"):
        build_sequence_model("transformer", {})


@pytest.fixture(scope="module")
def spirals_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spirals") / "spirals.npz"
    write_spirals(path, {"n_spirals": 20, "seed": 0})
    return path


def tiny_run(data, model, **extra):
    return {"model": model, "n_obs": 10, "seed": 0, "data": str(data), "lr": 0.01,
            "iterations": 4, "log_every": 1, "checkpoint_every": 2, "tol": 1e-3,
            "solver": "dopri5", "gradient": "adjoint", "max_num_steps": 1000,
            "figure_spirals": 2, "lr_schedule": "cosine", "grad_clip": 10.0, **extra}  # fmt: skip


@pytest.mark.parametrize("model", ["rnn", "rnn_dt", "latent_ode"])
def test_a_run_writes_metrics_history_and_figure_rows(spirals_file, tmp_path, model):
    metrics = sequences.train(tiny_run(spirals_file, model), tmp_path)
    assert metrics["status"] == "completed" and metrics["rmse"] > 0
    assert metrics["family"] == "spirals" and metrics["arm"] == f"{model}-n10"
    assert metrics["provenance"]["device"] == "cpu" and metrics["seed"] == 0
    assert metrics["n_train"] == 16 and metrics["n_test"] == 4
    history = (tmp_path / paths.HISTORY_CSV).read_text().splitlines()
    assert len(history) == 1 + 4
    assert (metrics["nfe_forward"] > 0) == (model == "latent_ode")
    kinds = set(np.loadtxt(tmp_path / paths.PREDICTIONS_CSV, delimiter=",", skiprows=1,
                           usecols=1, dtype=str))  # fmt: skip
    assert {"truth", "observed", "reconstruction", "extrapolation"} <= kinds
    assert ("latent" in kinds) == (model == "latent_ode")


def test_an_interrupted_spirals_run_resumes_to_the_same_result(spirals_file, tmp_path, monkeypatch):
    run = tiny_run(spirals_file, "latent_ode")
    reference = sequences.train(run, tmp_path / "reference")
    original = sequences.SequenceTrainer.fit

    def crash_after_checkpoint(self):
        self.run["iterations"] = 2  # stop after the checkpoint at iteration 2
        original(self)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(sequences.SequenceTrainer, "fit", crash_after_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        sequences.train(run, tmp_path / "resumed")
    monkeypatch.setattr(sequences.SequenceTrainer, "fit", original)
    resumed = sequences.train(run, tmp_path / "resumed")
    assert resumed["rmse"] == pytest.approx(reference["rmse"], rel=1e-6)
    assert resumed["iterations_completed"] == 4


def test_cosine_schedule_starts_at_the_full_rate_and_ends_at_zero():
    cosine = sequences.LR_SCHEDULES["cosine"]
    assert cosine(0, 100) == 1.0
    assert cosine(50, 100) == pytest.approx(0.5)
    assert cosine(100, 100) == pytest.approx(0.0)
    assert sequences.LR_SCHEDULES["constant"](70, 100) == 1.0


def test_unknown_lr_schedule_names_the_known_ones(spirals_file, tmp_path):
    with pytest.raises(ValueError, match="known: constant, cosine"):
        sequences.SequenceTrainer(tiny_run(spirals_file, "rnn", lr_schedule="step"), tmp_path)
