"""The solver benchmark cases, and the asv suite as CI runs it."""

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
