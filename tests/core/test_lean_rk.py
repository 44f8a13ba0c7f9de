"""The lean solvers take torchdiffeq's steps, one for one.

Each comparison solves the same problem with torchdiffeq's method and with its
``lean_`` twin, both wrapped to record every step they take (accepted or
rejected): the step sequences, the NFE and the results must agree, the results
up to rounding.
"""

import pytest
import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint
from torchdiffeq._impl.odeint import SOLVERS

from odebench.core.lean_rk import LEAN_SOLVERS, lean_method
from odebench.core.solving import SOLVERS as ODEBENCH_SOLVERS
from odebench.core.solving import CountedDynamics, integrate
from odebench.mnist.probe import load_trained
from odebench.perf.bench import CASES


def _recording(name: str, solver: type) -> str:
    """Register ``solver`` under a test name, recording (t1, dt) after every step."""

    class Recording(solver):
        def _adaptive_step(self, rk_state):
            state = super()._adaptive_step(rk_state)
            STEPS.append(tuple(float(torch.as_tensor(v).detach()) for v in (state.t1, state.dt)))
            return state

    SOLVERS[name] = Recording
    return name


STEPS: list[tuple[float, float]] = []
METHODS = ("dopri5", "bosh3", "adaptive_heun")
PLAIN = {m: _recording(f"test_recording_{m}", SOLVERS[m]) for m in METHODS}
LEAN = {m: _recording(f"test_recording_lean_{m}", LEAN_SOLVERS[m]) for m in METHODS}


def solve(method, func, y0, t, tol, gradient="direct", **kwargs):
    """(result, NFE, recorded steps) of one solve with a registered recording method."""
    counted = CountedDynamics(func)
    STEPS.clear()
    solve_fn = odeint_adjoint if gradient == "adjoint" else odeint
    out = solve_fn(counted, y0, t, rtol=tol, atol=tol, method=method, **kwargs)
    return out, counted.nfe, list(STEPS)


def assert_same_steps(plain_steps, lean_steps):
    """Same number of steps, each accepted or rejected alike, sizes equal up to rounding.

    The error estimate is a difference of two solutions, so float32 rounding in its
    sum (torchdiffeq sums k * (dt c) along a stage axis, the lean step accumulates
    alpha-scaled adds) moves it by up to ~1e-3 relative at tight tolerances; the
    controller passes that on to the next step size to the power 1/order."""
    assert len(lean_steps) == len(plain_steps)
    for (t1, dt), (lt1, ldt) in zip(plain_steps, lean_steps, strict=True):
        assert lt1 == pytest.approx(t1, rel=5e-3, abs=1e-9)
        assert ldt == pytest.approx(dt, rel=5e-3)


def case(name: str, batch: int):
    torch.manual_seed(0)
    spec = CASES[name]
    state = spec.state(torch.Generator().manual_seed(0))
    state = tuple(s[:batch] for s in state) if isinstance(state, tuple) else state[:batch]
    return spec.dynamics(), state, spec.tol


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def close(a, b, rtol=1e-4, atol=1e-5):
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=rtol, atol=atol)
    else:
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_lean_twin_takes_the_same_steps_on_every_bench_case(name, method):
    func, y0, tol = case(name, batch=16)
    t = torch.tensor([0.0, 1.0])
    with torch.no_grad():
        plain, plain_nfe, plain_steps = solve(PLAIN[method], func, y0, t, tol)
        lean, lean_nfe, lean_steps = solve(LEAN[method], func, y0, t, tol)
    assert lean_nfe == plain_nfe
    assert_same_steps(plain_steps, lean_steps)
    close(lean, plain)


@pytest.mark.parametrize(
    "t",
    [torch.tensor([1.0, 0.0]), torch.linspace(0.0, 1.0, 6), torch.tensor([0.0, 0.3, 2.0])],
    ids=["reversed", "several-times", "long"],
)
def test_reversed_and_several_output_times_agree(t):
    func, y0, tol = case("latent_mlp", batch=32)
    with torch.no_grad():
        plain, plain_nfe, plain_steps = solve(PLAIN["dopri5"], func, y0, t, tol)
        lean, lean_nfe, lean_steps = solve(LEAN["dopri5"], func, y0, t, tol)
    assert lean_nfe == plain_nfe
    assert_same_steps(plain_steps, lean_steps)
    close(lean, plain)


def test_float64_states_keep_float64_accuracy(linear_decay, exact_decay):
    y0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with torch.no_grad():
        plain, plain_nfe, plain_steps = solve(PLAIN["dopri5"], linear_decay, y0, t, 1e-10)
        lean, lean_nfe, lean_steps = solve(LEAN["dopri5"], linear_decay, y0, t, 1e-10)
    assert lean_nfe == plain_nfe
    assert_same_steps(plain_steps, lean_steps)
    torch.testing.assert_close(lean, plain, rtol=1e-12, atol=1e-12)
    exact = torch.tensor([exact_decay(1.0, 1.5), exact_decay(-2.0, 1.5)], dtype=torch.float64)
    torch.testing.assert_close(lean[-1], exact, rtol=1e-9, atol=1e-9)


def _gradients(method, func, y0, t, tol, gradient, **kwargs):
    y0 = y0.clone().requires_grad_(True)
    out, nfe, steps = solve(method, func, y0, t, tol, gradient=gradient, **kwargs)
    params = [p for p in func.parameters()]
    grads = torch.autograd.grad(out[-1].pow(2).mean(), [y0, *params])
    return grads, nfe, steps


@pytest.mark.parametrize("gradient", ["direct", "adjoint"])
@pytest.mark.parametrize("name", ["latent_mlp", "mnist_block"])
def test_gradients_agree_with_torchdiffeqs_in_both_modes(name, gradient):
    # The direct mode backpropagates through the solver, including torchdiffeq's
    # dependence of the first step (and so of every later time) on the state; the
    # adjoint's backward solve runs the lean method too.
    func, y0, tol = case(name, batch=8)
    t = torch.tensor([0.0, 1.0])
    plain, plain_nfe, plain_steps = _gradients(PLAIN["dopri5"], func, y0, t, tol, gradient)
    lean, lean_nfe, lean_steps = _gradients(LEAN["dopri5"], func, y0, t, tol, gradient)
    assert lean_nfe == plain_nfe
    assert_same_steps(plain_steps, lean_steps)
    for a, b in zip(lean, plain, strict=True):
        # At tol 1e-3 the adjoint's gradients move by ~1e-3 of their size under a 1e-7
        # relative change of the input with torchdiffeq alone: rounding, amplified (and
        # a ReLU that flips here and there moves single entries more).
        assert relative_difference(a, b) < 5e-3


def test_the_seminorm_adjoint_runs_the_lean_method_backward():
    func, y0, tol = case("latent_mlp", batch=16)
    t = torch.tensor([0.0, 1.0])
    options = {"adjoint_options": {"norm": "seminorm"}}
    plain, plain_nfe, _ = _gradients(PLAIN["dopri5"], func, y0, t, tol, "adjoint", **options)
    lean, lean_nfe, _ = _gradients(LEAN["dopri5"], func, y0, t, tol, "adjoint", **options)
    assert lean_nfe == plain_nfe
    for a, b in zip(lean, plain, strict=True):
        assert relative_difference(a, b) < 5e-3


def test_a_trained_odenet_block_takes_the_same_steps(trained_odenet):
    model, _ = load_trained(trained_odenet)
    images = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = model[0](images)
        func = model[1].dynamics.func
        t = torch.tensor([0.0, 1.0])
        for tol in (1e-1, 1e-3, 1e-5):
            plain, plain_nfe, plain_steps = solve(PLAIN["dopri5"], func, h, t, tol)
            lean, lean_nfe, lean_steps = solve(LEAN["dopri5"], func, h, t, tol)
            assert lean_nfe == plain_nfe, tol
            assert_same_steps(plain_steps, lean_steps)
            close(lean, plain, rtol=1e-4, atol=1e-4)


def test_grid_points_fall_back_to_torchdiffeqs_own_step():
    func, y0, tol = case("latent_mlp", batch=8)
    t = torch.tensor([0.0, 1.0])
    options = {"options": {"step_t": torch.tensor([0.25, 0.5])}}
    with torch.no_grad():
        plain, plain_nfe, plain_steps = solve(PLAIN["dopri5"], func, y0, t, tol, **options)
        lean, lean_nfe, lean_steps = solve(LEAN["dopri5"], func, y0, t, tol, **options)
    assert lean_nfe == plain_nfe
    assert plain_steps == lean_steps
    torch.testing.assert_close(lean, plain, rtol=0, atol=0)


class _Fails(nn.Module):
    def forward(self, t, h):
        return h * float("nan")


def test_a_non_finite_state_fails_as_torchdiffeq_does():
    y0 = torch.ones(4)
    t = torch.tensor([0.0, 1.0])
    messages = []
    for method in ("dopri5", "lean_dopri5"):
        with pytest.raises(AssertionError) as err:
            odeint(_Fails(), y0, t, method=method, options={"max_num_steps": 50})
        messages.append(str(err.value).split(" ")[0])
    assert messages[0] == messages[1]


def test_lean_names_are_registered_beside_torchdiffeqs_and_hidden_from_the_config():
    assert set(LEAN_SOLVERS) == {"dopri5", "bosh3", "adaptive_heun", "fehlberg2", "dopri8"}
    assert all(f"lean_{m}" in SOLVERS for m in LEAN_SOLVERS)
    assert not any(m.startswith("lean_") for m in ODEBENCH_SOLVERS)
    assert lean_method("dopri5") == "lean_dopri5"
    assert lean_method("rk4") == "rk4"  # fixed-grid methods run as they are


def test_integrate_runs_the_lean_backend_by_default_and_torchdiffeq_on_request():
    func, y0, tol = case("latent_mlp", batch=8)
    t = torch.tensor([0.0, 1.0])
    results = {}
    for backend in ("lean", "torchdiffeq"):
        counted = CountedDynamics(func)
        with torch.no_grad():
            results[backend] = (integrate(counted, y0, t, method="dopri5", tol=tol,
                                          options={}, backend=backend), counted.nfe)  # fmt: skip
    assert results["lean"][1] == results["torchdiffeq"][1]
    close(results["lean"][0], results["torchdiffeq"][0])
    with pytest.raises(ValueError, match="unknown solver backend 'scipy'; known: torchdiffeq"):
        integrate(func, y0, t, method="dopri5", tol=tol, options={}, backend="scipy")


def test_a_first_solve_in_inference_mode_leaves_later_gradients_possible():
    # The cast tableau is shared by later solves; made inside inference mode, it would
    # be an inference tensor that the direct mode's first (torchdiffeq) step cannot use.
    from odebench.core.lean_rk import LeanRK

    LeanRK._tableaus.clear()
    func, y0, tol = case("latent_mlp", batch=8)
    t = torch.tensor([0.0, 1.0])
    with torch.inference_mode():
        odeint(func, y0, t, rtol=tol, atol=tol, method="lean_dopri5")
    y = y0.clone().requires_grad_(True)
    odeint(func, y, t, rtol=tol, atol=tol, method="lean_dopri5")[-1].sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
