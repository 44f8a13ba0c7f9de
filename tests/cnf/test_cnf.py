"""Section 4 and FFJORD: planar flows, CNFs, trace estimators, and the CNF training family."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from odebench.cnf import densities
from odebench.cnf import family as cnf_family
from odebench.cnf import trace as cnf_trace
from odebench.cnf import train as cnf
from odebench.cnf.flows import CNF, PlanarFlow, PlanarLayer, build_flow
from odebench.core import artifacts, paths
from odebench.core.dynamics import (
    TRACE_ESTIMATORS,
    PlanarCNFDynamics,
    exact_trace,
    hutchinson_trace,
)
from odebench.pipeline import config as configuration
from odebench.products import figure_data

REPO = Path(__file__).resolve().parents[2]

#: A CNF solve tight enough that its log-density is accurate to ~1e-4.
TIGHT = {"tol": 1e-6, "method": "dopri5", "gradient": "direct", "max_num_steps": 10_000}


@pytest.fixture()
def smoke_cnf(base_config) -> dict:
    """The smoke budget, resolved."""
    return configuration.resolve(base_config | {"budget": "smoke"})


def test_planar_layer_log_determinant_matches_brute_force_jacobian():
    torch.manual_seed(0)
    layer = PlanarLayer(3)
    with torch.no_grad():  # a layer far from the identity, so the test has teeth
        layer.u.normal_()
        layer.b.fill_(0.3)
    z = torch.randn(5, 3, dtype=torch.float64)
    layer = layer.double()
    _, logdet = layer(z)
    for i in range(len(z)):
        jacobian = torch.autograd.functional.jacobian(lambda p: layer(p[None])[0][0], z[i])
        assert logdet[i].item() == pytest.approx(torch.linalg.slogdet(jacobian)[1].item(), abs=1e-9)


def test_planar_layer_stays_invertible_whatever_its_raw_parameters():
    torch.manual_seed(1)
    layer = PlanarLayer(2)
    with torch.no_grad():  # w^T u = -5 would make the raw layer non-invertible
        layer.w.copy_(torch.tensor([1.0, 0.0]))
        layer.u.copy_(torch.tensor([-5.0, 0.0]))
    assert (layer.w @ layer.u_hat()).item() > -1
    y = torch.randn(64, 2)
    assert torch.allclose(layer(layer.inverse(y))[0], y, atol=1e-5)


def test_planar_flow_pushes_noise_as_its_layers_do_one_by_one():
    torch.manual_seed(5)
    flow = PlanarFlow(2, 12, "generative").double()
    with torch.no_grad():  # layers far from the identity, some near w^T u_hat = -1
        for layer in flow.layers:
            layer.u.normal_(std=2.0)
            layer.b.normal_()
    z = torch.randn(40, 2, dtype=torch.float64, requires_grad=True)
    pushed, logdet = flow._push(z, flow.layers)
    expected, expected_logdet = z, torch.zeros(40, dtype=torch.float64)
    for layer in flow.layers:
        expected, step = layer(expected)
        expected_logdet = expected_logdet + step
    assert torch.allclose(pushed, expected, rtol=0, atol=1e-12)
    assert torch.allclose(logdet, expected_logdet, rtol=0, atol=1e-12)
    grads = torch.autograd.grad((pushed.sum() + logdet.sum()), [z, *flow.parameters()])
    expected_grads = torch.autograd.grad((expected.sum() + expected_logdet.sum()),
                                         [z, *flow.parameters()])  # fmt: skip
    for got, want in zip(grads, expected_grads, strict=True):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("direction", PlanarFlow.DIRECTIONS)
def test_planar_flow_log_prob_agrees_with_the_log_q_of_its_samples(direction):
    torch.manual_seed(2)
    flow = PlanarFlow(2, 6, direction)
    with torch.no_grad():
        for layer in flow.layers:
            layer.u.normal_(std=0.7)
        x, log_q = flow.sample(128, torch.Generator().manual_seed(0))
        assert torch.allclose(flow.log_prob(x), log_q, atol=1e-4)


def test_planar_flow_stages_run_from_the_noise_to_the_samples():
    torch.manual_seed(3)
    flow = PlanarFlow(2, 10, "normalizing")
    noise = torch.randn(32, 2)
    start, end = flow.stages(noise, [0.0, 1.0])
    assert torch.equal(start, noise)
    assert torch.allclose(flow.log_prob(end), flow.log_prob_stage(end, 1.0))
    # The end of the generative path is mapped back onto the noise by the layers.
    assert torch.allclose(flow._push(end, flow.layers)[0], noise, atol=1e-4)


def test_cnf_log_density_integrates_to_one_on_a_grid():
    torch.manual_seed(4)
    flow = CNF(2, 8, **TIGHT)
    points, area = densities.grid(7.0, 140)
    with torch.no_grad():
        mass = flow.log_prob(points.float()).double().exp().sum() * area
    assert mass.item() == pytest.approx(1.0, abs=0.01)


def test_cnf_log_prob_inverts_its_sampling_path():
    # float64 at tol 1e-8: the round trip's error is the solver's (1e-6 here), far below
    # the bound on any CPU; in float32 at tol 1e-6 it was half the bound (kernel-dependent).
    torch.manual_seed(5)
    flow = CNF(2, 8, **(TIGHT | {"tol": 1e-8})).double()
    with torch.no_grad():
        x, log_q = flow.sample(64, torch.Generator().manual_seed(1))
        assert x.dtype == log_q.dtype == torch.float64
        assert torch.allclose(flow.log_prob(x), log_q, atol=1e-5)
        # the density at 0% of the flow is the base density
        noise = torch.randn(8, 2)
        assert torch.allclose(
            flow.log_prob_stage(noise, 0.0), -0.5 * (noise**2).sum(1) - math.log(2 * math.pi)
        )


class LinearMap(nn.Module):
    def __init__(self, matrix: torch.Tensor):
        super().__init__()
        self.matrix = matrix

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.matrix.T


def test_hutchinson_estimator_is_unbiased_against_the_exact_trace_of_a_random_linear_map():
    torch.manual_seed(6)
    matrix = torch.randn(16, 16, dtype=torch.float64)
    draws = 20_000
    z = torch.randn(draws, 16, dtype=torch.float64, requires_grad=True)
    dz = LinearMap(matrix)(z)
    exact = exact_trace(dz, z, None)
    assert torch.allclose(exact, torch.trace(matrix).expand(draws, 1))
    noise = (2 * torch.randint(0, 2, z.shape) - 1).to(z.dtype)
    estimates = hutchinson_trace(dz, z, noise)[:, 0]
    stderr = estimates.std() / math.sqrt(draws)
    assert abs(estimates.mean() - torch.trace(matrix)) < 4 * stderr
    assert estimates.std() > 1.0  # an estimator, not the exact value in disguise


def test_hutchinson_noise_is_held_fixed_within_a_solve_and_redrawn_between_solves():
    torch.manual_seed(7)
    flow = CNF(2, 8, trace="hutchinson", tol=1e-5)
    x = torch.randn(16, 2)
    with torch.no_grad():
        flow.log_prob(x)
        first = flow.dynamics.func.noise.clone()
        flow.log_prob(x)
    assert set(first.unique().tolist()) <= {-1.0, 1.0}
    assert not torch.equal(first, flow.dynamics.func.noise)


def test_fresh_noise_at_every_evaluation_costs_many_more_evaluations():
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(8))
    nfe = {}
    for estimator in ("hutchinson", "hutchinson_fresh"):
        torch.manual_seed(8)
        flow = CNF(2, 8, trace=estimator, tol=1e-5, max_num_steps=5_000)
        with torch.no_grad():
            flow.log_prob(x)
        nfe[estimator] = flow.nfe
    assert nfe["hutchinson_fresh"] > 5 * nfe["hutchinson"]


@pytest.mark.parametrize("per_sample_time", [False, True])
def test_the_planar_closed_form_trace_equals_the_exact_trace_by_autograd(per_sample_time):
    torch.manual_seed(3)
    exact = PlanarCNFDynamics(dim=3, width=5, trace="exact").double()
    planar = PlanarCNFDynamics(dim=3, width=5, trace="planar").double()
    with torch.no_grad():  # weights large enough that the trace varies with z
        for parameter in exact.parameters():
            parameter.mul_(4)
    planar.load_state_dict(exact.state_dict())
    z = torch.randn(64, 3, dtype=torch.float64)
    t = torch.rand(64, dtype=torch.float64) if per_sample_time else torch.tensor(0.3).double()
    state = (z, torch.zeros(64, 1, dtype=torch.float64))
    dz_exact, trace_exact = exact(t, state)
    dz_planar, trace_planar = planar(t, state)
    assert torch.allclose(dz_planar, dz_exact, rtol=0, atol=1e-14)
    assert torch.allclose(trace_planar, trace_exact, rtol=0, atol=1e-12)
    assert trace_planar.std() > 0.1  # the trace varies with z: not a constant in disguise


def test_a_cnf_with_the_planar_trace_has_the_exact_traces_log_density_and_gradients():
    x = densities.dataset("two_moons")(128, torch.Generator().manual_seed(0)).double()
    flows, losses = {}, {}
    for trace in ("exact", "planar"):
        torch.manual_seed(4)
        flows[trace] = CNF(width=4, trace=trace, **TIGHT | {"tol": 1e-9}).double()
        losses[trace] = -flows[trace].log_prob(x).mean()
        losses[trace].backward()
    assert float(losses["planar"]) == pytest.approx(float(losses["exact"]), rel=1e-9)
    for (name, exact), planar in zip(flows["exact"].named_parameters(),
                                     flows["planar"].parameters(), strict=True):  # fmt: skip
        assert torch.allclose(planar.grad, exact.grad, rtol=1e-6, atol=1e-9), name


def test_unknown_names_fail_listing_the_known_ones():
    with pytest.raises(ValueError, match="known: exact, hutchinson, hutchinson_fresh, planar"):
        PlanarCNFDynamics(trace="skilling")
    with pytest.raises(ValueError, match="known: nf, cnf"):
        build_flow("realnvp", {"capacity": 2})
    with pytest.raises(ValueError, match="known: ring, wave"):
        densities.energy("banana")
    with pytest.raises(ValueError, match="known: two_circles, two_moons"):
        densities.dataset("swiss_roll")
    assert set(TRACE_ESTIMATORS) == {"exact", "hutchinson", "hutchinson_fresh", "planar"}


def test_log_partition_recovers_the_gaussian_normalizer(monkeypatch):
    monkeypatch.setitem(densities.ENERGIES, "gauss", lambda z: 0.5 * (z**2).sum(1))
    assert densities.log_partition("gauss") == pytest.approx(math.log(2 * math.pi), abs=1e-6)


@pytest.mark.parametrize("name", sorted(densities.ENERGIES))
def test_every_target_is_normalizable_inside_the_grid(name):
    # Mass within [-6, 6]^2 equals the mass within [-8, 8]^2: nothing leaks to infinity.
    inner, outer = densities.log_partition(name, 6.0, 1500), densities.log_partition(name)
    assert inner == pytest.approx(outer, abs=1e-4)


@pytest.mark.parametrize("name", sorted(densities.DATASETS))
def test_data_sets_are_reproducible_and_centred(name):
    a = densities.dataset(name)(2000, torch.Generator().manual_seed(0))
    b = densities.dataset(name)(2000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (2000, 2)
    assert a.mean(0).abs().max() < 0.2 and a.abs().max() < 4


@pytest.mark.parametrize(
    ("arm", "parsed"),
    [("split_wave-cnf32", ("split_wave", "cnf", 32)), ("ring-nf2", ("ring", "nf", 2))],
)
def test_density_arm_names_round_trip(arm, parsed):
    assert cnf_family.parse_density_arm(arm) == parsed
    assert cnf_family.density_arm(*parsed) == arm
    assert cnf_family.parse_likelihood_arm(cnf_family.likelihood_arm("two_moons", "nf")) == (
        "two_moons",
        "nf",
    )


def density_run(resolved: dict, model: str = "cnf", **changes) -> dict:
    run = cnf_family.cnf_density_run(resolved, "ring", model, 4, seed=0)
    return run | {"iterations": 6, "checkpoint_every": 3, "batch_size": 64, "eval_samples": 128,
                  "grid": {"lim": 4.0, "points": 8}} | changes  # fmt: skip


def test_density_run_writes_its_directory_with_a_nonnegative_kl(smoke_cnf, tmp_path):
    metrics = cnf.train(density_run(smoke_cnf), tmp_path)
    assert metrics["status"] == "completed" and metrics["iterations_completed"] == 6
    assert metrics["family"] == "cnf_density" and metrics["arm"] == "ring-cnf4"
    assert metrics["provenance"]["device"] == "cpu" and metrics["params"] > 0
    assert metrics["kl"] > -3 * metrics["kl_stderr"]
    assert metrics["nfe_forward"] > 0 and metrics["config"]["direction"] == "generative"
    for name in (paths.METRICS_JSON, paths.CONFIG_JSON, paths.HISTORY_CSV, paths.GRID_CSV):
        assert (tmp_path / name).is_file()
    assert len((tmp_path / paths.GRID_CSV).read_text().splitlines()) == 1 + 8 * 8


def test_interrupted_run_resumes_from_its_checkpoint_to_the_same_metrics(smoke_cnf, tmp_path):
    # Resuming must also restore the noise RNG, and the validation curve.
    run = density_run(smoke_cnf, trace_estimator="hutchinson", validations=2)
    straight = cnf.train(run, tmp_path / "straight")
    # Stop a run after its checkpoint at iteration 3, as a kill would, then start it again.
    trainer = cnf.FlowTrainer(run, tmp_path / "resumed")
    trainer.run["iterations"] = 3
    trainer.fit()
    assert (tmp_path / "resumed" / paths.CHECKPOINT).is_file()
    resumed = cnf.train(run, tmp_path / "resumed")
    assert resumed["kl"] == straight["kl"]
    assert resumed["final_loss"] == straight["final_loss"]
    assert resumed["iterations_completed"] == 6
    curves = [pd.read_csv(tmp_path / name / paths.HISTORY_CSV)["val_loss"].tolist()
              for name in ("straight", "resumed")]  # fmt: skip
    assert curves[0] == pytest.approx(curves[1], nan_ok=True)


def test_a_run_validates_on_its_schedule_on_the_same_noise_each_time(smoke_cnf, tmp_path):
    run = density_run(smoke_cnf, iterations=8, validations=4, val_samples=64)
    cnf.train(run, tmp_path)
    history = pd.read_csv(tmp_path / paths.HISTORY_CSV)
    validated = history.dropna(subset=["val_loss"])
    assert validated["iteration"].tolist() == [2, 4, 6, 8]
    trainer = cnf.FlowTrainer(run, tmp_path / "again")
    first = trainer.task.validation_loss(trainer.model)
    assert trainer.task.validation_loss(trainer.model) == first  # fixed validation noise
    test_kl = trainer.task.evaluate(trainer.model)[0]["kl"]
    assert first != test_kl  # other samples than the test's


def test_annealing_raises_the_energy_weight_from_a_hundredth_to_one(smoke_cnf, tmp_path):
    trainer = cnf.FlowTrainer(density_run(smoke_cnf, "nf", anneal=100), tmp_path)
    weights = [trainer.batch(i) for i in (1, 51, 101, 500)]
    assert weights == pytest.approx([0.01, 0.01 + 0.99 * 0.5, 1.0, 1.0])
    assert cnf.FlowTrainer(density_run(smoke_cnf, "nf"), tmp_path).batch(1) == 1.0


def test_training_solves_at_the_training_tolerance_and_validation_at_the_run_tolerance(
    smoke_cnf, tmp_path
):
    nfe = {}
    for train_tol in (1e-6, 1e-2):
        run = density_run(smoke_cnf, tol=1e-6, train_tol=train_tol, iterations=2)
        trainer = cnf.FlowTrainer(run, tmp_path / f"{train_tol:g}")
        trainer.fit()
        nfe[train_tol] = trainer.history[-1]["nfe_forward"]
        assert trainer.model.solve_options["tol"] == 1e-6
    assert nfe[1e-2] < nfe[1e-6]


def test_run_out_of_solver_steps_records_why_and_writes_its_metrics(smoke_cnf, tmp_path):
    metrics = cnf.train(density_run(smoke_cnf, max_num_steps=1), tmp_path)
    assert metrics["status"] == "step_budget_exhausted"
    assert "max_num_steps" in metrics["status_detail"]
    assert artifacts.read_json(tmp_path / paths.METRICS_JSON)["kl"] is None


def test_likelihood_run_orients_the_nf_from_data_to_noise_and_draws_every_frame(
    smoke_cnf, tmp_path
):
    run = cnf_family.cnf_likelihood_run(smoke_cnf, "two_moons", "nf", seed=0)
    run |= {"iterations": 5, "test_samples": 100, "frame_samples": 10,
            "grid": {"lim": 4.0, "points": 5}}  # fmt: skip
    metrics = cnf.train(run, tmp_path)
    assert metrics["config"]["direction"] == "normalizing" and metrics["capacity"] == 64
    assert math.isfinite(metrics["test_nll"])
    frames = figure_data.collect_run_tables(
        [tmp_path], paths.FRAMES_CSV, ("dataset", "model", "seed")
    )
    assert sorted(frames["fraction"].unique()) == run["frames"]
    counts = frames.groupby(["fraction", "kind"]).size()
    assert (counts.xs("sample", level="kind") == 10).all()
    assert (counts.xs("density", level="kind") == 25).all()


def test_trace_study_measures_every_estimator_and_the_exact_trace_has_no_variance(
    smoke_cnf, tmp_path
):
    spec = cnf_family.cnf_trace_run(smoke_cnf, seed=0) | {"dims": [2, 3], "batch_size": 16,
                                                             "max_num_steps": 2000}  # fmt: skip
    metrics = cnf_trace.trace(spec, tmp_path)
    assert metrics["status"] == "completed" and metrics["rows"] == 6
    assert metrics["family"] == "cnf_trace" and metrics["arm"] == "study" and metrics["seed"] == 0
    rows = pd.read_csv(tmp_path / paths.TRACE_CSV).set_index(["dim", "estimator"])
    assert set(rows.index) == {(d, e) for d in (2, 3) for e in spec["estimators"]}
    assert (rows["status"] == "completed").all()
    for dim in (2, 3):
        assert rows.loc[(dim, "exact"), "variance"] == 0.0
        assert rows.loc[(dim, "hutchinson"), "variance"] > 0.0
        assert rows.loc[(dim, "hutchinson_fresh"), "nfe"] > rows.loc[(dim, "hutchinson"), "nfe"]


def test_trace_entry_point_takes_one_run_config_and_stores_it_unchanged(smoke_cnf, tmp_path):
    import json
    import os
    import subprocess
    import sys

    run = cnf_family.cnf_trace_run(smoke_cnf, seed=1) | {
        "dims": [2], "estimators": ["exact", "hutchinson"], "batch_size": 8, "max_num_steps": 2000,
    }  # fmt: skip
    command = [sys.executable, "-m", "odebench.cnf", "trace", "--run-config", json.dumps(run),
               "--out", str(tmp_path), "--threads", "1"]  # fmt: skip
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert artifacts.read_json(tmp_path / paths.CONFIG_JSON) == run
    metrics = artifacts.read_json(tmp_path / paths.METRICS_JSON)
    assert metrics["seed"] == 1 and metrics["config"] == run and metrics["rows"] == 2
    assert metrics["provenance"]["device"] == "cpu"  # the study stays on the CPU


def test_a_run_killed_with_sigkill_resumes_to_the_metrics_of_an_uninterrupted_run(
    smoke_cnf, tmp_path
):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    run = density_run(smoke_cnf, model="nf", iterations=3000, checkpoint_every=100,
                      log_every=1000)  # fmt: skip
    straight = cnf.train(run, tmp_path / "straight")
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "odebench.cnf", "train", "--run-config", json.dumps(run),
               "--out", str(out)]  # fmt: skip
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out / paths.CHECKPOINT).is_file() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert (out / paths.CHECKPOINT).is_file() and not (out / paths.METRICS_JSON).exists()
    # No half-written file is left behind by the kill: only complete ones and no temporaries.
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    metrics = artifacts.read_json(out / paths.METRICS_JSON)
    assert metrics["kl"] == straight["kl"] and metrics["final_loss"] == straight["final_loss"]
    assert metrics["iterations_completed"] == 3000


def test_a_failed_run_is_marked_in_its_table_and_the_report_still_builds(smoke_cnf, tmp_path):
    from odebench.products import claims, report, tables

    ok = cnf.train(density_run(smoke_cnf), tmp_path / "runs" / "ok")
    failed = cnf.train(density_run(smoke_cnf, seed=1, max_num_steps=1), tmp_path / "runs" / "bad")
    assert ok["status"] == "completed" and failed["status"] == "step_budget_exhausted"
    results = tmp_path / "results" / "smoke"
    table = tables.cnf_density_matching(
        [tmp_path / "runs" / name / paths.METRICS_JSON for name in ("ok", "bad")],
        tables.load_reference(REPO / "paper" / "reference.yaml"),
        results / "tables" / "cnf_density_matching",
    )
    assert table.loc[0, "n_seeds"] == 1 and table.loc[0, "n_failed"] == 1
    markdown = (results / "tables" / "cnf_density_matching.md").read_text()
    assert "Failed runs (excluded from the statistics): ring cnf4: iteration 1" in markdown
    assert claims.main(["--tables-dir", str(results / "tables"), "--reference",
                        str(REPO / "paper" / "reference.yaml"),
                        "--out", str(results / "claims.csv")]) == 0  # fmt: skip
    text = report.render(results)
    assert "Failed runs (excluded from the statistics)" in text
