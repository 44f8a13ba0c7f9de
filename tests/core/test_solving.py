import copy
import itertools

import pytest
import torch

from odebench.core.solving import (
    CountedDynamics,
    ODEBlock,
    StepBudgetExceeded,
    integrate,
    solver_options,
)


def test_adaptive_solve_matches_the_exact_solution(linear_decay, exact_decay):
    block = ODEBlock(linear_decay, tol=1e-7, method="dopri5", gradient="direct")
    h0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    out = block(h0)
    expected = torch.tensor([exact_decay(1.0, 1.5), exact_decay(-2.0, 1.5)], dtype=torch.float64)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


def test_error_of_a_solve_falls_as_the_tolerance_tightens(linear_decay, exact_decay):
    h0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    exact = torch.tensor([exact_decay(1.0, 1.5), exact_decay(-2.0, 1.5)], dtype=torch.float64)
    errors, nfes = [], []
    for tol in (1e-2, 1e-4, 1e-6, 1e-8, 1e-10):
        dynamics = CountedDynamics(linear_decay)
        out = integrate(dynamics, h0, torch.tensor([0.0, 1.0], dtype=torch.float64),
                        method="dopri5", tol=tol, options=solver_options("dopri5"))  # fmt: skip
        errors.append((out - exact).abs().max().item())
        nfes.append(dynamics.nfe)
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert all(a <= b for a, b in itertools.pairwise(nfes)), nfes
    assert errors[-1] < 1e-9


def test_fixed_grid_options_split_the_interval_into_the_given_steps():
    assert solver_options("euler", 4) == {"step_size": 0.25}
    assert solver_options("dopri5", 4, max_num_steps=7) == {"max_num_steps": 7}


def test_fixed_step_rk4_calls_the_dynamics_four_times_per_step(linear_decay):
    block = ODEBlock(linear_decay, method="rk4", step_size=0.25, gradient="direct")
    block(torch.ones(3))
    assert block.nfe == 4 * 4


def test_adjoint_counts_backward_evaluations_separately_from_forward(linear_decay):
    block = ODEBlock(linear_decay, tol=1e-5, gradient="adjoint")
    out = block(torch.ones(4, requires_grad=True))
    forward = block.nfe
    out.sum().backward()
    assert forward > 0
    assert block.nfe - forward > 0


def test_direct_backprop_never_calls_the_dynamics_in_backward(linear_decay):
    block = ODEBlock(linear_decay, tol=1e-5, gradient="direct")
    out = block(torch.ones(4, requires_grad=True))
    forward = block.nfe
    out.sum().backward()
    assert block.nfe == forward


def test_adjoint_and_direct_gradients_agree(linear_decay, exact_decay):
    grads = {}
    for mode in ("adjoint", "direct"):
        func = copy.deepcopy(linear_decay)  # a fresh parameter per mode
        ODEBlock(func, tol=1e-8, gradient=mode)(torch.ones(2, dtype=torch.float64)).sum().backward()
        grads[mode] = func.k.grad
    # d/dk of 2 exp(-k) at k = 1.5
    torch.testing.assert_close(grads["adjoint"], grads["direct"], rtol=1e-4, atol=1e-6)
    assert grads["direct"].item() == pytest.approx(-2 * exact_decay(1.0, 1.5), rel=1e-4)


def test_exhausted_step_budget_raises_a_named_error(linear_decay):
    block = ODEBlock(linear_decay, tol=1e-12, max_num_steps=2, gradient="direct")
    with pytest.raises(StepBudgetExceeded, match="max_num_steps"):
        block(torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "magic"}, "unknown solver 'magic'; known: .*dopri5"),
    ({"gradient": "finite_differences"}, "unknown gradient mode .*adjoint, direct"),
])  # fmt: skip
def test_unknown_solver_or_gradient_mode_fails_with_the_known_ones(linear_decay, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ODEBlock(linear_decay, **kwargs)


def test_an_adjoint_solve_without_a_graph_runs_as_odeint_and_counts_the_same(linear_decay):
    from torchdiffeq import odeint_adjoint

    # In float64: the lean backend (ours) and torchdiffeq (theirs) reduce the error norm
    # in different orders, which in float32 moves the result by ~1e-6 from one CPU's
    # vector width to another's.
    linear_decay.double()
    h0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    counted = CountedDynamics(linear_decay)
    with torch.no_grad():
        ours = integrate(counted, h0, t, method="dopri5", tol=1e-6, options={},
                         gradient="adjoint", adjoint_params=tuple(linear_decay.parameters()))  # fmt: skip
        theirs = odeint_adjoint(linear_decay, h0, t, rtol=1e-6, atol=1e-6, method="dopri5")[-1]
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    # With a graph, the adjoint's backward solve runs.
    h = h0.clone().requires_grad_(True)
    before = counted.nfe
    out = integrate(counted, h, t, method="dopri5", tol=1e-6, options={}, gradient="adjoint")
    forward = counted.nfe - before
    out.sum().backward()
    assert counted.nfe - before - forward > 0


@pytest.mark.parametrize("backend", ["lean", "torchdiffeq"])
def test_every_backend_turns_an_exhausted_step_budget_into_one_error(linear_decay, backend):
    h0 = torch.tensor([1.0, -2.0])
    with pytest.raises(StepBudgetExceeded, match="max_num_steps"):
        integrate(linear_decay, h0, torch.tensor([0.0, 1.0]), method="dopri5", tol=1e-12,
                  options={"max_num_steps": 2}, backend=backend)  # fmt: skip
