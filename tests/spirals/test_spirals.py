import copy
import csv
import json
import math

import numpy as np
import pytest
import torch
from torchdiffeq import odeint

from odebench.core import paths
from odebench.spirals import data as spirals_data
from odebench.spirals import train as sequences
from odebench.spirals.data import (
    irregular_indices,
    load_spirals,
    make_spirals,
    subsample,
    write_spirals,
)
from odebench.spirals.models import (
    HoldLast,
    LatentODE,
    LinearExtrapolation,
    RecognitionRNN,
    RNNBaseline,
    build_sequence_model,
    gaps_to_next,
)


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


def test_the_encoder_sees_where_the_observations_lie_in_the_window():
    torch.manual_seed(0)
    encoder = RecognitionRNN()
    x, times = torch.randn(3, 6, 2), torch.sort(torch.rand(3, 6), dim=1).values
    later = times + 0.5  # the same observations, the same gaps, further from t = 0
    # gaps alone (the old input) cannot tell the two apart; the encoder now can
    torch.testing.assert_close(gaps_to_next(later), gaps_to_next(times))
    assert encoder.i2h.in_features == 2 + 2 + 25
    mean, logvar = encoder(x, times)
    mean_later, logvar_later = encoder(x, later)
    assert not torch.allclose(mean, mean_later) and not torch.allclose(logvar, logvar_later)


def test_the_latent_ode_measures_observation_times_from_where_z0_lives():
    torch.manual_seed(0)
    model = LatentODE({})
    x, times = torch.randn(2, 5, 2), torch.sort(torch.rand(2, 5), dim=1).values
    grid = torch.linspace(0, 1, 10)
    # shifting the observations and the solve grid together leaves q(z0) as it is
    for a, b in zip(model.posterior(x, times, grid), model.posterior(x, times + 2, grid + 2),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(model.posterior(x, times, grid)[0], model.encoder(x, times)[0])


def test_rnn_dt_sees_the_time_differences_and_the_plain_rnn_observations_only():
    x, times = torch.randn(2, 4, 2), torch.tensor([[0.0, 0.1, 0.5, 0.6], [0.0, 0.3, 0.4, 0.9]])
    with_time, plain = RNNBaseline({}, use_time=True), RNNBaseline({}, use_time=False)
    assert with_time.cell.input_size == 2 + 1 and plain.cell.input_size == 2
    torch.testing.assert_close(gaps_to_next(times)[0, :, 0], torch.tensor([0.1, 0.4, 0.1, 0.0]))
    seen = []
    with_time.cell.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    future = torch.tensor([1.0, 1.5])
    out = with_time.predict(x, times, future)
    assert out["x"].shape == (2, 2, 2) and out["x_next"].shape == (2, 3, 2)
    # reading: the gap to the next observation (the paper's time differences)
    torch.testing.assert_close(seen[1][:, 2:], torch.tensor([[0.4], [0.1]]))
    # rolling out at the actual future times: from the last observation to 1.0, then to 1.5
    torch.testing.assert_close(seen[3][:, 2:], torch.tensor([[0.4], [0.1]]))
    torch.testing.assert_close(seen[4][:, 2:], torch.tensor([[0.5], [0.5]]))


def test_the_plain_rnn_rolls_out_at_the_mean_gap_of_its_training_observations():
    torch.manual_seed(0)
    model = RNNBaseline({}, use_time=False)
    model.set_training_times(torch.tensor([[0.0, 0.125, 0.25], [0.0, 0.375, 0.75]]))
    assert float(model.spacing) == 0.25  # the mean of the gaps 0.125, 0.125, 0.375, 0.375
    x, times = torch.randn(2, 3, 2), torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.2, 0.7]])
    # the rollout by hand: read the first two observations, then feed back from the last
    with torch.no_grad():
        _, h = model._read(x, times)
        current, steps = x[:, -1], []
        for _ in range(4):
            current, h = model._step(current, None, h)
            steps.append(current)
    path = torch.stack([x[:, -1], *steps], 1)  # step k sits at t_n + 0.25 k
    calls = []
    model.cell.register_forward_hook(lambda *args: calls.append(1))
    on_the_steps = times[0, -1] + 0.25 * torch.arange(1, 5)
    out = model.predict(x[:1], times[:1], on_the_steps)["x"]
    torch.testing.assert_close(out, path[:1, 1:])
    assert len(calls) == 2 + 4  # read two observations, then just enough steps to reach 2.0
    halfway = times[0, -1] + torch.tensor([0.125, 0.375])
    torch.testing.assert_close(
        model.predict(x[:1], times[:1], halfway)["x"], (path[:1, :2] + path[:1, 1:3]) / 2
    )
    with pytest.raises(RuntimeError, match="spacing is unset"):
        RNNBaseline({}, use_time=False).predict(x, times, halfway)


def test_hold_last_is_exact_on_a_constant():
    x = torch.tensor([[1.5, -2.0]]).expand(3, 7, 2)
    times = torch.sort(torch.rand(3, 7), dim=1).values
    out = HoldLast({}).predict(x, times, torch.tensor([1.2, 3.0, 8.0]))
    torch.testing.assert_close(out["x"], x[:, :3])
    torch.testing.assert_close(out["x_next"], x[:, 1:])
    assert HoldLast({}).loss(x, times).item() == 0.0


def test_linear_is_exact_on_a_straight_line():
    times = torch.tensor([[0.0, 0.1, 0.35, 0.4, 0.9], [0.05, 0.3, 0.31, 0.6, 0.65]])
    velocity, origin = torch.tensor([2.0, -0.5]), torch.tensor([1.0, 1.0])
    line = lambda t: origin + t.unsqueeze(-1) * velocity  # noqa: E731
    future = torch.tensor([1.0, 1.7, 2.5])
    out = LinearExtrapolation({}).predict(line(times), times, future)
    torch.testing.assert_close(out["x"], line(future).expand(2, -1, -1))
    # one step ahead: the second observation by holding the first, the others exactly
    torch.testing.assert_close(out["x_next"][:, 1:], line(times)[:, 2:])
    torch.testing.assert_close(out["x_next"][:, 0], line(times)[:, 0])


def test_rmse_is_against_the_given_truth():
    truth = torch.zeros(2, 3, 2)
    assert sequences.rmse(truth + 0.5, truth) == pytest.approx(0.5)


def test_unknown_sequence_model_names_the_known_ones():
    with pytest.raises(ValueError, match="known: rnn, rnn_dt, latent_ode, hold_last, linear"):
        build_sequence_model("transformer", {})


@pytest.fixture(scope="module")
def spirals_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spirals") / "spirals.npz"
    write_spirals(path, {"n_spirals": 20, "seed": 0})
    return path


def read_history(run_dir):
    with open(run_dir / paths.HISTORY_CSV) as f:
        return list(csv.DictReader(f))


def tiny_run(data, model, **extra):
    return {"model": model, "n_obs": 10, "seed": 0, "data": str(data), "lr": 0.01,
            "iterations": 4, "log_every": 1, "checkpoint_every": 2, "tol": 1e-3,
            "solver": "dopri5", "gradient": "adjoint", "max_num_steps": 1000,
            "figure_spirals": 2, "lr_schedule": "cosine", "grad_clip": 10.0,
            "val_fraction": 0.1, "eval_every": 2, **extra}  # fmt: skip


@pytest.mark.parametrize("model", ["rnn", "rnn_dt", "latent_ode"])
def test_a_run_writes_metrics_history_and_figure_rows(spirals_file, tmp_path, model):
    metrics = sequences.train(tiny_run(spirals_file, model), tmp_path)
    assert metrics["status"] == "completed" and metrics["rmse"] > 0
    assert metrics["family"] == "spirals" and metrics["arm"] == f"{model}-n10"
    assert metrics["provenance"]["device"] == "cpu" and metrics["seed"] == 0
    assert metrics["n_train"] == 14 and metrics["n_val"] == 2 and metrics["n_test"] == 4
    history = read_history(tmp_path)
    assert len(history) == 4
    # validated every eval_every = 2 iterations and after the last
    assert [row["val_loss"] != "" for row in history] == [False, True, False, True]
    assert metrics["best_iteration"] in (2, 4) and math.isfinite(metrics["best_val_loss"])
    assert (metrics["nfe_forward"] > 0) == (model == "latent_ode")
    kinds = set(np.loadtxt(tmp_path / paths.PREDICTIONS_CSV, delimiter=",", skiprows=1,
                           usecols=1, dtype=str))  # fmt: skip
    assert {"truth", "observed", "reconstruction", "extrapolation"} <= kinds
    assert ("latent" in kinds) == (model == "latent_ode")


def killed_at_iteration_2_then_resumed(run, out, monkeypatch) -> dict:
    """Train ``run`` into ``out``, kill it just after its checkpoint at iteration 2, then
    train it again (it resumes); the metrics of the resumed run."""
    original = sequences.SequenceTrainer.fit

    def crash_after_checkpoint(self):
        self.run["iterations"] = 2  # stop after the checkpoint at iteration 2
        original(self)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(sequences.SequenceTrainer, "fit", crash_after_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        sequences.train(run, out)
    monkeypatch.setattr(sequences.SequenceTrainer, "fit", original)
    return sequences.train(run, out)


def test_an_interrupted_spirals_run_resumes_to_the_same_result(spirals_file, tmp_path, monkeypatch):
    run = tiny_run(spirals_file, "latent_ode")
    reference = sequences.train(run, tmp_path / "reference")
    resumed = killed_at_iteration_2_then_resumed(run, tmp_path / "resumed", monkeypatch)
    assert resumed["rmse"] == pytest.approx(reference["rmse"], rel=1e-6)
    assert resumed["iterations_completed"] == 4


def test_unknown_lr_schedule_names_the_known_ones(spirals_file, tmp_path):
    with pytest.raises(ValueError, match="known: constant, cosine"):
        sequences.SequenceTrainer(tiny_run(spirals_file, "rnn", lr_schedule="step"), tmp_path)


@pytest.mark.parametrize("model", ["hold_last", "linear"])
def test_a_reference_predictor_run_completes_without_training(spirals_file, tmp_path, model):
    metrics = sequences.train(tiny_run(spirals_file, model), tmp_path)
    assert metrics["status"] == "completed" and metrics["iterations_completed"] == 0
    assert metrics["params"] == 0 and metrics["rmse"] > 0 and metrics["rmse_window"] > 0
    assert metrics["best_iteration"] == 0 and metrics["best_val_loss"] > 0
    assert read_history(tmp_path) == [] and not (tmp_path / paths.CHECKPOINT).exists()
    kinds = set(np.loadtxt(tmp_path / paths.PREDICTIONS_CSV, delimiter=",", skiprows=1,
                           usecols=1, dtype=str))  # fmt: skip
    assert kinds == {"truth", "observed", "reconstruction", "extrapolation"}


def test_the_validation_spirals_depend_on_the_data_only(spirals_file, tmp_path):
    a = sequences.SequenceTrainer(tiny_run(spirals_file, "rnn", seed=0), tmp_path / "a")
    b = sequences.SequenceTrainer(tiny_run(spirals_file, "latent_ode", seed=3), tmp_path / "b")
    assert len(a.val) == len(b.val) == 2
    torch.testing.assert_close(a.val.truth, b.val.truth)  # the same spirals ...
    assert not torch.equal(a.val.index, b.val.index)  # ... observed as the seed draws them
    assert not torch.equal(a.val.index, a.train.index[: len(a.val)])  # own seed offset
    spirals = [a.train.truth, a.val.truth, a.test.truth]
    starts = [{tuple(s[:, 0].tolist()) for s in split} for split in spirals]
    assert sum(map(len, starts)) == 20 and len(set.union(*starts)) == 20  # disjoint splits
    data = load_spirals(spirals_file)
    direction = data["direction"][sequences.validation_mask(data, 0.1)]
    assert sorted(direction.tolist()) == [-1, 1]  # one of each direction


def test_the_plain_rnn_is_told_its_training_spacing(spirals_file, tmp_path):
    trainer = sequences.SequenceTrainer(tiny_run(spirals_file, "rnn"), tmp_path)
    mean_gap = torch.diff(trainer.train.times, dim=1).mean()
    assert float(trainer.model.spacing) == pytest.approx(float(mean_gap))


def test_the_latent_ode_validation_loss_is_deterministic(spirals_file, tmp_path):
    trainer = sequences.SequenceTrainer(tiny_run(spirals_file, "latent_ode"), tmp_path)
    rng = torch.get_rng_state()
    first, second = trainer.validation_loss(), trainer.validation_loss()
    assert first == second and math.isfinite(first)
    assert torch.equal(torch.get_rng_state(), rng)  # no z0 drawn: training's draws unchanged
    assert trainer.model.training


def scripted_validation(losses):
    """A validation_loss that returns ``losses[iteration]`` (iteration = history length)."""

    def validation_loss(self):
        return losses[len(self.history)]

    return validation_loss


def test_the_test_split_is_evaluated_with_the_best_validation_weights(
    spirals_file, tmp_path, monkeypatch
):
    run = tiny_run(spirals_file, "latent_ode", eval_every=1, checkpoint_every=4)
    monkeypatch.setattr(sequences.SequenceTrainer, "validation_loss",
                        scripted_validation({1: 3.0, 2: 1.0, 3: 2.0, 4: math.nan}))  # fmt: skip
    evaluated = []
    original = sequences.SequenceTrainer.evaluate

    def spy(self):
        result = original(self)
        evaluated.append(copy.deepcopy(self.model.state_dict()))
        return result

    monkeypatch.setattr(sequences.SequenceTrainer, "evaluate", spy)
    metrics = sequences.train(run, tmp_path)
    assert metrics["status"] == "completed"
    assert metrics["best_iteration"] == 2 and metrics["best_val_loss"] == 1.0
    assert [row["val_loss"] for row in read_history(tmp_path)] == ["3.0", "1.0", "2.0", "nan"]
    saved = torch.load(tmp_path / paths.CHECKPOINT, weights_only=True)
    assert saved["best"]["iteration"] == 2
    for name, tensor in saved["best"]["state"].items():
        torch.testing.assert_close(evaluated[0][name], tensor, rtol=0, atol=0)
    assert any(not torch.equal(saved["model"][k], v) for k, v in saved["best"]["state"].items())


def test_a_run_whose_validation_loss_is_never_finite_diverges(spirals_file, tmp_path, monkeypatch):
    monkeypatch.setattr(sequences.SequenceTrainer, "validation_loss", lambda self: math.nan)
    metrics = sequences.train(tiny_run(spirals_file, "rnn"), tmp_path)
    assert metrics["status"] == "diverged" and "validation" in metrics["status_detail"]
    assert metrics["rmse"] is None and metrics["best_iteration"] is None


def test_a_resumed_run_keeps_the_best_weights_from_before_the_interruption(
    spirals_file, tmp_path, monkeypatch
):
    run = tiny_run(spirals_file, "rnn", eval_every=1)
    monkeypatch.setattr(sequences.SequenceTrainer, "validation_loss",
                        scripted_validation({1: 3.0, 2: 1.0, 3: 2.0, 4: 4.0}))  # fmt: skip
    reference = sequences.train(run, tmp_path / "reference")
    # the run is killed after its checkpoint at iteration 2, the best iterate
    resumed = killed_at_iteration_2_then_resumed(run, tmp_path / "resumed", monkeypatch)
    assert reference["best_iteration"] == resumed["best_iteration"] == 2
    assert resumed["rmse"] == reference["rmse"]


def test_without_a_validation_split_the_last_iterate_is_evaluated(spirals_file, tmp_path):
    metrics = sequences.train(tiny_run(spirals_file, "rnn", val_fraction=0.0), tmp_path)
    assert metrics["status"] == "completed" and metrics["n_val"] == 0 and metrics["n_train"] == 16
    assert metrics["best_iteration"] is None and metrics["rmse"] > 0
    assert all(row["val_loss"] == "" for row in read_history(tmp_path))
