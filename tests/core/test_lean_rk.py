"""The lean solvers take torchdiffeq's steps, one for one.

Each comparison solves the same problem with torchdiffeq's method and with its
``lean_`` twin, both wrapped to record every step they take (accepted or
rejected).

Step for step only in float64: there rounding lies some ten orders of magnitude
below the controller's thresholds, so the two implementations must take the same
steps, make the same NFE and agree to rounding. In float32 the BLAS kernels round
differently from one CPU to the next (AVX-512, AVX2, AMX) and the two methods sum
their stages in different orders; an adaptive controller turns those last bits
into steps a percent apart (torchdiffeq alone does so under a change of kernel),
so float32 asserts what holds on any machine: the lean solution is as accurate as
torchdiffeq's against a tight float64 solve, in the solver's own error units, and
the NFE agree within a stated band.
"""

import copy
import math

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
            # Host floats as they are (torch.as_tensor would round them to float32).
            STEPS.append(tuple(float(v.detach() if torch.is_tensor(v) else v)
                               for v in (state.t1, state.dt)))  # fmt: skip
            return state

    SOLVERS[name] = Recording
    return name


STEPS: list[tuple[float, float]] = []
METHODS = ("dopri5", "bosh3", "adaptive_heun")
PLAIN = {m: _recording(f"test_recording_{m}", SOLVERS[m]) for m in METHODS}
LEAN = {m: _recording(f"test_recording_lean_{m}", LEAN_SOLVERS[m]) for m in METHODS}

#: Reference solves run dopri5 in float64 at this fraction of the tested tolerance.
REFERENCE_TIGHTENING = 1e-3


def solve(method, func, y0, t, tol, gradient="direct", **kwargs):
    """(result, NFE, recorded steps) of one solve with a registered recording method."""
    counted = CountedDynamics(func)
    STEPS.clear()
    solve_fn = odeint_adjoint if gradient == "adjoint" else odeint
    out = solve_fn(counted, y0, t, rtol=tol, atol=tol, method=method, **kwargs)
    return out, counted.nfe, list(STEPS)


def assert_same_steps(plain_steps, lean_steps, tol):
    """Same number of steps, each accepted or rejected alike, sizes equal to rounding.

    For float64 solves only. The error estimate is a sum of stage terms of the state's
    size that cancel down to about ``tol``, and the two implementations sum it in
    different orders (torchdiffeq sums k * (dt c) along a stage axis, the lean step
    accumulates alpha-scaled adds): its rounding is some eps / tol relative, which the
    controller passes on to the next step damped (2.8e-6 measured at tol 1e-10, where
    eps / tol = 2.2e-6). Ten times that, and no less than 1e-9."""
    rel = max(1e-9, 10 * torch.finfo(torch.float64).eps / tol)
    assert len(lean_steps) == len(plain_steps)
    for (t1, dt), (lt1, ldt) in zip(plain_steps, lean_steps, strict=True):
        assert lt1 == pytest.approx(t1, rel=rel, abs=1e-12)
        assert ldt == pytest.approx(dt, rel=rel)


def assert_nfe_within_band(lean_nfe, plain_nfe):
    """Float32 NFE agree within 10% or 6 evaluations (one dopri5 step), the larger.

    Measured on the bench cases: scaling the tolerance by 0.97 to 1.03, which moves
    the steps by about as much as a change of kernel does (about 1%), moves
    torchdiffeq's own NFE by at most 1 evaluation."""
    assert abs(lean_nfe - plain_nfe) <= max(6, math.ceil(0.1 * plain_nfe)), (lean_nfe, plain_nfe)


def error_in_tolerances(solution, reference, tol) -> float:
    """Largest error against ``reference`` in the solver's error units, tol (1 + |y|)."""
    a, b = flat(solution).double(), flat(reference).double()
    return float(((a - b).abs() / (tol * (1 + b.abs()))).max())


def assert_as_accurate(lean, plain, reference, tol):
    """The lean float32 solution is at most twice torchdiffeq's error, plus one tolerance.

    torchdiffeq's own error against the float64 reference moves by up to 38% when its
    steps move by about 1% (bosh3 on the latent case, tolerance scaled by 0.97); a
    wrong tableau or a misplaced stage costs orders of magnitude, not a factor 2."""
    lean_error = error_in_tolerances(lean, reference, tol)
    plain_error = error_in_tolerances(plain, reference, tol)
    assert lean_error <= 2 * plain_error + 1, (lean_error, plain_error)


def case(name: str, batch: int):
    torch.manual_seed(0)
    spec = CASES[name]
    state = spec.state(torch.Generator().manual_seed(0))
    state = tuple(s[:batch] for s in state) if isinstance(state, tuple) else state[:batch]
    return spec.dynamics(), state, spec.tol


def in_float64(func, y0, t):
    """A float64 copy of the dynamics, the state and the output times."""
    state = tuple(s.double() for s in y0) if isinstance(y0, tuple) else y0.double()
    return copy.deepcopy(func).double(), state, t.double()


def flat(x) -> torch.Tensor:
    return torch.cat([s.reshape(-1) for s in x]) if isinstance(x, tuple) else x.reshape(-1)


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def close(a, b, rtol=1e-10, atol=1e-12):
    """Float64 results of the same steps agree to rounding."""
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=rtol, atol=atol)
    else:
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def assert_twins_agree(method, func, y0, t, tol):
    """Step for step in float64; as accurate, NFE within the band, in float32."""
    with torch.no_grad():
        func64, y64, t64 = in_float64(func, y0, t)
        plain, plain_nfe, plain_steps = solve(PLAIN[method], func64, y64, t64, tol)
        lean, lean_nfe, lean_steps = solve(LEAN[method], func64, y64, t64, tol)
        assert lean_nfe == plain_nfe
        assert_same_steps(plain_steps, lean_steps, tol)
        close(lean, plain)
        reference, _, _ = solve(PLAIN["dopri5"], func64, y64, t64, tol * REFERENCE_TIGHTENING)
        plain, plain_nfe, _ = solve(PLAIN[method], func, y0, t, tol)
        lean, lean_nfe, _ = solve(LEAN[method], func, y0, t, tol)
    assert_nfe_within_band(lean_nfe, plain_nfe)
    assert_as_accurate(lean, plain, reference, tol)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_lean_twin_takes_the_same_steps_on_every_bench_case(name, method):
    func, y0, tol = case(name, batch=16)
    assert_twins_agree(method, func, y0, torch.tensor([0.0, 1.0]), tol)


@pytest.mark.parametrize(
    "t",
    [torch.tensor([1.0, 0.0]), torch.linspace(0.0, 1.0, 6), torch.tensor([0.0, 0.3, 2.0])],
    ids=["reversed", "several-times", "long"],
)
def test_reversed_and_several_output_times_agree(t):
    func, y0, tol = case("latent_mlp", batch=32)
    assert_twins_agree("dopri5", func, y0, t, tol)


def test_float64_states_keep_float64_accuracy(linear_decay, exact_decay):
    y0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with torch.no_grad():
        plain, plain_nfe, plain_steps = solve(PLAIN["dopri5"], linear_decay, y0, t, 1e-10)
        lean, lean_nfe, lean_steps = solve(LEAN["dopri5"], linear_decay, y0, t, 1e-10)
    assert lean_nfe == plain_nfe
    assert_same_steps(plain_steps, lean_steps, 1e-10)
    torch.testing.assert_close(lean, plain, rtol=1e-12, atol=1e-12)
    exact = torch.tensor([exact_decay(1.0, 1.5), exact_decay(-2.0, 1.5)], dtype=torch.float64)
    torch.testing.assert_close(lean[-1], exact, rtol=1e-9, atol=1e-9)


def _gradients(method, func, y0, t, tol, gradient, **kwargs):
    y0 = y0.clone().requires_grad_(True)
    out, nfe, steps = solve(method, func, y0, t, tol, gradient=gradient, **kwargs)
    params = [p for p in func.parameters()]
    grads = torch.autograd.grad(out[-1].pow(2).mean(), [y0, *params])
    return grads, nfe, steps


def assert_gradients_agree(func, y0, t, tol, gradient, **options):
    """Step for step and equal to rounding in float64; in float32, NFE within the band
    and each gradient at most twice torchdiffeq's relative error, plus one tolerance,
    against backpropagation through a tight float64 solve."""
    func64, y64, t64 = in_float64(func, y0, t)
    plain, plain_nfe, plain_steps = _gradients(
        PLAIN["dopri5"], func64, y64, t64, tol, gradient, **options
    )
    lean, lean_nfe, lean_steps = _gradients(
        LEAN["dopri5"], func64, y64, t64, tol, gradient, **options
    )
    assert lean_nfe == plain_nfe
    assert_same_steps(plain_steps, lean_steps, tol)
    for a, b in zip(lean, plain, strict=True):
        assert relative_difference(a, b) < 1e-8
    reference, _, _ = _gradients(
        PLAIN["dopri5"], func64, y64, t64, tol * REFERENCE_TIGHTENING, "direct"
    )
    plain, plain_nfe, _ = _gradients(PLAIN["dopri5"], func, y0, t, tol, gradient, **options)
    lean, lean_nfe, _ = _gradients(LEAN["dopri5"], func, y0, t, tol, gradient, **options)
    assert_nfe_within_band(lean_nfe, plain_nfe)
    for a, b, exact in zip(lean, plain, reference, strict=True):
        # At tol 1e-3 the mnist block's gradients are 12-18% off the tight solve's, and
        # move by a tenth of that when the steps move by a percent.
        lean_error = relative_difference(a.double(), exact)
        plain_error = relative_difference(b.double(), exact)
        assert lean_error <= 2 * plain_error + tol, (lean_error, plain_error)


@pytest.mark.parametrize("gradient", ["direct", "adjoint"])
@pytest.mark.parametrize("name", ["latent_mlp", "mnist_block"])
def test_gradients_agree_with_torchdiffeqs_in_both_modes(name, gradient):
    # The direct mode backpropagates through the solver, including torchdiffeq's
    # dependence of the first step (and so of every later time) on the state; the
    # adjoint's backward solve runs the lean method too.
    func, y0, tol = case(name, batch=8)
    assert_gradients_agree(func, y0, torch.tensor([0.0, 1.0]), tol, gradient)


def test_the_seminorm_adjoint_runs_the_lean_method_backward():
    func, y0, tol = case("latent_mlp", batch=16)
    options = {"adjoint_options": {"norm": "seminorm"}}
    assert_gradients_agree(func, y0, torch.tensor([0.0, 1.0]), tol, "adjoint", **options)


def test_a_trained_odenet_block_takes_the_same_steps(trained_odenet):
    model, _ = load_trained(trained_odenet)
    images = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = model[0](images)
        func, h, t = in_float64(model[1].dynamics.func, h, torch.tensor([0.0, 1.0]))
        for tol in (1e-1, 1e-3, 1e-5):
            plain, plain_nfe, plain_steps = solve(PLAIN["dopri5"], func, h, t, tol)
            lean, lean_nfe, lean_steps = solve(LEAN["dopri5"], func, h, t, tol)
            assert lean_nfe == plain_nfe, tol
            assert_same_steps(plain_steps, lean_steps, tol)
            close(lean, plain)


def test_grid_points_fall_back_to_torchdiffeqs_own_step():
    func, y0, tol = case("latent_mlp", batch=8)
    func, y0, t = in_float64(func, y0, torch.tensor([0.0, 1.0]))
    options = {"options": {"step_t": torch.tensor([0.25, 0.5], dtype=torch.float64)}}
    with torch.no_grad():
        plain, plain_nfe, plain_steps = solve(PLAIN["dopri5"], func, y0, t, tol, **options)
        lean, lean_nfe, lean_steps = solve(LEAN["dopri5"], func, y0, t, tol, **options)
    assert lean_nfe == plain_nfe
    assert_same_steps(plain_steps, lean_steps, tol)
    close(lean, plain)


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
    func, y0, t = in_float64(func, y0, torch.tensor([0.0, 1.0]))
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
