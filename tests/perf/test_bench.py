"""The solver benchmark cases, and the asv suite as CI runs it."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from odebench.perf.bench import CASES, Prepared


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("gradient", ["adjoint", "direct"])
def test_a_measurement_reports_integer_nfe_and_an_overhead_fraction(case, gradient):
    result = Prepared(case, "dopri5", 1e-3, gradient).measure()
    assert isinstance(result["nfe_forward"], int) and result["nfe_forward"] > 0
    assert isinstance(result["nfe_backward"], int)
    assert (result["nfe_backward"] > 0) == (gradient == "adjoint")
    assert 0.0 <= result["overhead_fraction"] <= 1.0
    assert result["activation_bytes"] > 0


def test_fixed_grid_cases_take_a_step_count():
    result = Prepared("latent_mlp", "rk4", 5, "direct").measure()
    assert result["nfe_forward"] == 4 * 5


def test_cnf_log_density_change_is_minus_the_integrated_trace():
    # d log p / dt = -tr(df/dz), computed exactly: compare with the full Jacobian
    prepared = Prepared("cnf_2d", "euler", 1, "direct")
    z0, logp0 = prepared.state
    dz, dlogp = prepared.dynamics.func(torch.tensor(0.0), (z0[:4], logp0[:4]))
    jac = torch.autograd.functional.jacobian(
        lambda z: prepared.dynamics.func.velocity(torch.tensor(0.0), z), z0[:4]
    )  # (4, 2, 4, 2): block-diagonal over the batch
    exact = torch.stack([jac[i, :, i, :].trace() for i in range(4)])
    torch.testing.assert_close(dlogp.squeeze(1), -exact)
    assert dz.shape == (4, 2)


def test_unknown_case_names_the_known_ones():
    with pytest.raises(ValueError, match="known: mnist_block, latent_mlp, cnf_2d"):
        Prepared("spirals", "dopri5", 1e-3, "adjoint")


def asv(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("asv")
    return subprocess.run(
        [str(exe), *args], cwd=repo, capture_output=True, text=True, timeout=400,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_asv_suite_is_valid_and_every_benchmark_runs_once(repo):
    assert asv(repo, "machine", "--yes").returncode == 0
    check = asv(repo, "check", "--python=same")
    assert check.returncode == 0, check.stdout + check.stderr
    run = asv(repo, "run", "--python=same", "--quick", "--show-stderr",
              env={"ODEBENCH_ASV_REDUCED": "1"})  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "failed" not in output, output[-3000:]
    assert output.count(" ok") >= 7 * 5  # 7 benchmark methods x 5 classes


def _suite(monkeypatch, repo, **env):
    """benchmarks/solvers.py imported afresh under the given environment variables."""
    import importlib.util

    for name in ("ODEBENCH_ASV_FULL", "ODEBENCH_ASV_REDUCED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("asv_solvers", repo / "benchmarks" / "solvers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _combinations(cls) -> int:
    return math.prod(len(values) for values in cls.params)


def test_the_default_asv_suite_times_each_case_at_its_own_setting_and_full_grids_are_opt_in(
    monkeypatch, repo
):
    default = _suite(monkeypatch, repo)
    for cls in (default.MNISTBlockAdaptive, default.LatentODE, default.CNF2D):
        solvers, settings, gradients = cls.params
        assert solvers == ["dopri5"] and settings == [CASES[cls.case].tol]
        assert gradients == ["adjoint", "direct"]
    assert default.Backends.params[1] == ["lean", "torchdiffeq"]  # torchode: opt-in
    full = _suite(monkeypatch, repo, ODEBENCH_ASV_FULL="1")
    assert "torchode" in full.Backends.params[1]
    for name in ("MNISTBlockAdaptive", "MNISTBlockFixed", "LatentODE", "CNF2D", "Backends"):
        assert _combinations(getattr(full, name)) > _combinations(getattr(default, name))
    reduced = _suite(monkeypatch, repo, ODEBENCH_ASV_REDUCED="1", ODEBENCH_ASV_FULL="1")
    assert all(_combinations(getattr(reduced, n)) == 1 for n in ("LatentODE", "Backends"))
