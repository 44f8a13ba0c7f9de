"""The torchode backend (odebench.core.torchode_backend) against torchdiffeq.

On the dynamics of the three bench cases (odebench.perf.bench.CASES), in float64,
with a few samples each. Two dopri5 solutions at the same tolerance are two
approximations of one exact solution, and the bench dynamics are not smooth
(ReLU in the MNIST block, ELU in the latent MLP), where the embedded error
estimate undershoots, so their global errors are far above ``tol``. Agreement is
therefore judged against torchdiffeq's own error: the distance of torchode's
solution (or gradient) from a more accurate torchdiffeq reference may be at most a
small multiple of torchdiffeq's own distance from it. A wrong tableau, tolerance,
time or gradient gives errors orders of magnitude larger.
"""

import pytest
import torch
from torchdiffeq import odeint, odeint_adjoint

from odebench.core.dynamics import PlanarCNFDynamics
from odebench.core.solving import (
    CountedDynamics,
    ODEBlock,
    StepBudgetExceeded,
    integrate,
)
from odebench.core.torchode_backend import METHODS, solve
from odebench.perf.bench import CASES

F64 = torch.float64
T = torch.tensor([0.0, 1.0], dtype=F64)
T3 = torch.tensor([0.0, 0.5, 1.0], dtype=F64)

#: Samples, tolerance and reference tolerance per case. The 64-channel MNIST block is
#: the costly one on CPU (float64 convolutions, and below 1e-7 its non-smooth ReLU
#: dynamics need several times more steps per decade of tolerance), so it is checked
#: at 1e-6 against a reference at 1e-7; the others at 1e-7 against 1e-9.
SETTINGS = {
    "mnist_block": (2, 1e-6, 1e-7),
    "latent_mlp": (8, 1e-7, 1e-9),
    "cnf_2d": (8, 1e-7, 1e-9),
}
#: The adjoint of the MNIST block integrates 2 x 75k parameter adjoints, one per
#: sample, with vmapped per-sample VJPs: a looser tolerance keeps it to seconds.
GRAD_TOL = {"mnist_block": 1e-5, "latent_mlp": 1e-7, "cnf_2d": 1e-7}


def _case(name, n, seed=0):
    """The case's dynamics (float64) and the first ``n`` samples of its state."""
    torch.manual_seed(seed)
    case = CASES[name]
    dynamics = case.dynamics().double()
    state = case.state(torch.Generator().manual_seed(seed))
    return case, dynamics, _take(state, slice(0, n), F64)


def _take(state, index, dtype=None):
    if isinstance(state, tuple):
        return tuple(s[index].to(dtype or s.dtype) for s in state)
    return state[index].to(dtype or state.dtype)


def _parts(x):
    return x if isinstance(x, tuple) else (x,)


def _dist(a, b):
    """Largest absolute difference over every component."""
    return max((x - y).abs().max().item() for x, y in zip(_parts(a), _parts(b), strict=True))


def _torchode(dynamics, h, t, tol, gradient="direct", **kwargs):
    kwargs.setdefault("options", {})
    return solve(dynamics, h, t, method=kwargs.pop("method", "dopri5"), tol=tol,
                 gradient=gradient, adjoint_norm=kwargs.pop("adjoint_norm", "full"),
                 **kwargs)  # fmt: skip


def _torchdiffeq(dynamics, h, t, tol, method="dopri5", **kwargs):
    return odeint(dynamics, h, t, rtol=tol, atol=tol, method=method, **kwargs)


def _requires_grad(state):
    if isinstance(state, tuple):
        return tuple(_requires_grad(s) for s in state)
    return state.clone().requires_grad_(True)


def _gradient(case, dynamics, h0, run):
    """d loss / d (initial state, parameters) of one solve ``run(h)``, flattened."""
    h = _requires_grad(h0)
    out = run(h)
    last = tuple(o[-1] for o in _parts(out))
    loss = case.loss(last if isinstance(h, tuple) else last[0])
    inputs = [*_parts(h), *dynamics.parameters()]
    grads = torch.autograd.grad(loss, inputs)
    return torch.cat([g.flatten() for g in grads])


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


# --- the dynamics with one time per sample -------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_dynamics_evaluated_with_one_time_per_sample_match_one_call_per_sample(name):
    _, dynamics, h = _case(name, 4)
    times = torch.tensor([0.0, 0.3, 0.7, 1.0], dtype=F64)
    first = _parts(h)[0]
    together = dynamics(times.reshape(-1, *[1] * (first.ndim - 1)), h)
    for i, t in enumerate(times):
        alone = dynamics(t, _take(h, slice(i, i + 1)))
        for a, b in zip(_parts(alone), _parts(together), strict=True):
            torch.testing.assert_close(b[i : i + 1], a, rtol=1e-12, atol=1e-12)


def test_planar_cnf_with_one_time_for_the_batch_is_bit_identical_to_the_published_form():
    torch.manual_seed(0)
    cnf = PlanarCNFDynamics(dim=2, width=32)
    z = torch.randn(16, 2)
    m, d = cnf.width, cnf.dim
    for t in (torch.tensor(0.37), torch.tensor([0.37]), torch.tensor([[0.37]])):
        # The velocity as written before per-sample times existed.
        params = cnf.hyper(t.reshape(1, 1).to(z)).reshape(-1)
        w, u = params[: m * d].reshape(m, d), params[m * d : 2 * m * d].reshape(m, d)
        expected = torch.tanh(z @ w.T + params[2 * m * d :].reshape(m)) @ u / m
        assert torch.equal(cnf.velocity(t, z), expected)


def test_planar_cnf_rejects_a_time_count_that_is_neither_one_nor_the_batch():
    cnf = PlanarCNFDynamics()
    with pytest.raises(ValueError, match="one per sample"):
        cnf.velocity(torch.zeros(3, 1), torch.zeros(4, 2))


# --- forward solves -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_dopri5_agrees_with_torchdiffeq_at_tight_tolerance(name):
    n, tol, reference_tol = SETTINGS[name]
    _, dynamics, h = _case(name, n)
    with torch.no_grad():
        ours = _torchode(dynamics, h, T3, tol)
        theirs = _torchdiffeq(dynamics, h, T3, tol)
        reference = _torchdiffeq(dynamics, h, T3, reference_tol)
    for a, b in zip(_parts(ours), _parts(h), strict=True):
        assert a.shape == (len(T3), *b.shape)
    own_error = _dist(theirs, reference)
    assert _dist(ours, reference) <= 10 * own_error + 1e-9, (_dist(ours, reference), own_error)
    assert _dist(ours, theirs) < 1e3 * tol * (1 + max(x.abs().max().item() for x in _parts(h)))


def test_a_decreasing_time_grid_integrates_backward():
    _, dynamics, h = _case("latent_mlp", 8)
    tol = 1e-8
    back = torch.tensor([1.0, 0.4, 0.0], dtype=F64)
    with torch.no_grad():
        ours = _torchode(dynamics, h, back, tol)
        reference = _torchdiffeq(dynamics, h, back, tol / 100)
        own_error = _dist(_torchdiffeq(dynamics, h, back, tol), reference)
        round_trip = _torchode(dynamics, ours[-1], back.flip(0), tol)[-1]
    assert torch.equal(ours[0], h)
    assert _dist(ours, reference) <= 10 * own_error + 1e-9
    torch.testing.assert_close(round_trip, h, rtol=1e-5, atol=1e-5)


# Easy and hard samples: a pool of initial states per case; the pair is the pool's
# sample with the fewest and the one with the most steps (per-sample step counts).
POOLS = {
    "mnist_block": (2, (10.0, 0.1), 1e-5),  # GroupNorm makes small states the hard ones
    "latent_mlp": (16, (1.0, 30.0, 100.0), 1e-6),
    "cnf_2d": (16, (1.0, 100.0), 1e-5),
}


def _scaled(state, scale):
    return (state[0] * scale, state[1]) if isinstance(state, tuple) else state * scale


def _cat(states):
    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*states, strict=True))
    return torch.cat(states)


@pytest.mark.parametrize("name", sorted(CASES))
def test_per_sample_control_solves_each_sample_of_a_batch_as_if_alone(name):
    n, scales, tol = POOLS[name]
    _, dynamics, h = _case(name, n)
    pool = _cat([_scaled(_take(h, slice(i, i + 1)), s) for i, s in enumerate(scales)]
                if name == "mnist_block" else [_scaled(h, s) for s in scales])  # fmt: skip
    with torch.no_grad():
        stats = {}
        _torchode(dynamics, pool, T, tol, stats=stats)
        steps = stats["n_steps"]
        easy, hard = int(steps.argmin()), int(steps.argmax())
        assert steps[hard] >= steps[easy] + 2, steps  # the pair really differs
        pair = _take(pool, [easy, hard])
        together_stats = {}
        together = _torchode(dynamics, pair, T, tol, stats=together_stats)
        joint = _torchdiffeq(dynamics, pair, T, tol)
        for i in range(2):
            one = _take(pair, slice(i, i + 1))
            alone_stats = {}
            alone = _torchode(dynamics, one, T, tol, stats=alone_stats)
            # The same steps, the same solution up to rounding.
            assert together_stats["n_steps"][i] == alone_stats["n_steps"][0]
            for a, b in zip(_parts(together), _parts(alone), strict=True):
                torch.testing.assert_close(a[:, i : i + 1], b, rtol=1e-12, atol=1e-12)
            # torchdiffeq's joint control puts the hard sample's steps on the easy one
            # (and averages their errors): far more than rounding apart.
            alone_joint = _torchdiffeq(dynamics, one, T, tol)
            assert _dist(tuple(p[:, i : i + 1] for p in _parts(joint)), alone_joint) > 1e-9
    # The batch advances in lockstep: its NFE is that of its hardest sample (the last
    # one solved alone), counted for every row.
    assert (together_stats["n_f_evals"] == alone_stats["n_f_evals"][0]).all()


def test_tuple_states_come_back_as_tuples_of_trajectories():
    _, dynamics, h = _case("cnf_2d", 8)
    tol = 1e-7
    with torch.no_grad():
        ours = _torchode(dynamics, h, T3, tol)
        reference = _torchdiffeq(dynamics, h, T3, tol / 100)
        own_error = _dist(_torchdiffeq(dynamics, h, T3, tol), reference)
    assert isinstance(ours, tuple) and len(ours) == 2
    assert ours[0].shape == (3, 8, 2) and ours[1].shape == (3, 8, 1)
    assert ours[0].dtype == ours[1].dtype == F64
    assert torch.equal(ours[0][0], h[0]) and torch.equal(ours[1][0], h[1])
    assert _dist(ours, reference) <= 10 * own_error + 1e-9


@pytest.mark.parametrize("method", ["euler", "heun2"])
def test_fixed_grid_methods_take_torchdiffeqs_steps(method):
    _, dynamics, h = _case("latent_mlp", 8)
    with torch.no_grad():
        ours = _torchode(dynamics, h, T, 1e-3, method=method, options={"step_size": 0.25})
        theirs = _torchdiffeq(dynamics, h, T, 1e-3, method=method, options={"step_size": 0.25})
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_adaptive_heun_agrees_with_torchdiffeq():
    _, dynamics, h = _case("latent_mlp", 8)
    tol = 1e-6
    with torch.no_grad():
        ours = _torchode(dynamics, h, T, tol, method="adaptive_heun")
        reference = _torchdiffeq(dynamics, h, T, 1e-10)
        own_error = _dist(_torchdiffeq(dynamics, h, T, tol, method="adaptive_heun"), reference)
    assert _dist(ours, reference) <= 10 * own_error + 1e-9


# --- gradients ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_direct_and_adjoint_gradients_agree_with_torchdiffeq(name):
    n, tol = SETTINGS[name][0], GRAD_TOL[name]
    case, dynamics, h = _case(name, n)
    reference = _gradient(case, dynamics, h, lambda x: _torchdiffeq(dynamics, x, T, tol / 100))
    direct = _gradient(case, dynamics, h, lambda x: _torchdiffeq(dynamics, x, T, tol))
    adjoint = _gradient(case, dynamics, h, lambda x: odeint_adjoint(
        dynamics, x, T, rtol=tol, atol=tol, method="dopri5"))  # fmt: skip
    ours_direct = _gradient(case, dynamics, h, lambda x: _torchode(dynamics, x, T, tol))
    ours_adjoint = _gradient(
        case, dynamics, h, lambda x: _torchode(dynamics, x, T, tol, gradient="adjoint")
    )
    # torchdiffeq's own gradient error at this tolerance (about 2% for the ReLU block
    # at 1e-5, 1e-5 relative for the others at 1e-7) sizes what "agree" means.
    allowed = 5 * max(_rel(direct, reference), _rel(adjoint, reference)) + 1e-9
    assert _rel(ours_direct, reference) <= allowed, (_rel(ours_direct, reference), allowed)
    assert _rel(ours_adjoint, reference) <= allowed, (_rel(ours_adjoint, reference), allowed)


def test_seminorm_and_state_only_adjoints_take_fewer_backward_steps():
    case, func, h = _case("latent_mlp", 8)
    dynamics = CountedDynamics(func)
    tol = 1e-7
    runs = {}
    for label, kwargs in {
        "full": {},
        "seminorm": {"adjoint_norm": "seminorm"},
        "state": {"adjoint_params": ()},
    }.items():
        x = h.clone().requires_grad_(True)
        out = _torchode(dynamics, x, T, tol, gradient="adjoint", **kwargs)
        dynamics.nfe = 0
        func.zero_grad(set_to_none=True)
        case.loss(out[-1]).backward()
        runs[label] = (dynamics.nfe, x.grad, [p.grad for p in func.parameters()])
    assert runs["seminorm"][0] < runs["full"][0]
    assert runs["state"][0] <= runs["seminorm"][0]
    for label in ("seminorm", "state"):
        assert _rel(runs[label][1], runs["full"][1]) < 5e-4
    assert all(g is not None for g in runs["seminorm"][2])
    assert all(g is None for g in runs["state"][2])  # no parameter adjoint integrated


def test_adjoint_parameters_must_belong_to_the_dynamics():
    _, dynamics, h = _case("latent_mlp", 4)
    stranger = torch.nn.Parameter(torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="not a parameter of the dynamics"):
        _torchode(dynamics, h, T, 1e-5, gradient="adjoint", adjoint_params=(stranger,))


def test_adjoint_refuses_a_hutchinson_cnf_whose_noise_spans_the_batch():
    cnf = CountedDynamics(PlanarCNFDynamics(trace="hutchinson"))
    state = (torch.randn(4, 2), torch.zeros(4, 1))
    cnf.func.draw_noise(state[0])
    with pytest.raises(ValueError, match="trace='exact'"):
        _torchode(cnf, state, T.float(), 1e-5, gradient="adjoint")


# --- budgets, errors, and the integrate() entry point --------------------------------


def test_a_forward_solve_over_its_step_budget_raises_step_budget_exceeded():
    _, dynamics, h = _case("latent_mlp", 8)
    with pytest.raises(StepBudgetExceeded, match="max_num_steps=2"):
        integrate(dynamics, h, T, method="dopri5", tol=1e-9, options={"max_num_steps": 2},
                  backend="torchode")  # fmt: skip


def test_an_adjoint_backward_solve_over_its_step_budget_raises_from_backward():
    case, dynamics, h = _case("latent_mlp", 8)
    tol = 1e-7
    stats = {}
    x = h.clone().requires_grad_(True)
    case.loss(_torchode(dynamics, x, T, tol, gradient="adjoint", stats=stats)[-1]).backward()
    forward_steps = int(stats["n_steps"].max())
    backward_steps = int(stats["backsolve"][0]["n_steps"].max())
    assert backward_steps > forward_steps + 1  # the full adjoint norm needs more steps
    budget = {"max_num_steps": forward_steps + 1}
    x = h.clone().requires_grad_(True)
    out = _torchode(dynamics, x, T, tol, gradient="adjoint", options=budget)  # forward fits
    with pytest.raises(StepBudgetExceeded, match="adjoint backward solve"):
        case.loss(out[-1]).backward()


def test_unknown_methods_and_options_raise_value_error_naming_the_supported_ones():
    _, dynamics, h = _case("latent_mlp", 4)
    with pytest.raises(ValueError, match="supported: dopri5, adaptive_heun, euler, heun2"):
        integrate(dynamics, h, T, method="rk4", tol=1e-3, options={"step_size": 0.1},
                  backend="torchode")  # fmt: skip
    with pytest.raises(ValueError, match="step_size"):
        _torchode(dynamics, h, T, 1e-3, method="euler", options={})
    with pytest.raises(ValueError, match="not supported"):
        _torchode(dynamics, h, T, 1e-3, options={"dfactor": 0.5})
    assert set(METHODS) == {"dopri5", "adaptive_heun", "euler", "heun2"}


@pytest.mark.parametrize("gradient", ["direct", "adjoint"])
def test_integrate_with_the_torchode_backend_counts_every_dynamics_call(gradient):
    case, func, h = _case("latent_mlp", 8)
    dynamics = CountedDynamics(func)
    x = h.clone().requires_grad_(True)
    stats = {}
    out = integrate(dynamics, x, T, method="dopri5", tol=1e-6, options={"max_num_steps": 100},
                    gradient=gradient, backend="torchode", stats=stats)  # fmt: skip
    assert out.shape == h.shape
    forward = dynamics.nfe
    # One batched call per stage: torchode's per-sample counter, the same for every row.
    assert forward == int(stats["n_f_evals"][0]) > 0
    assert (stats["n_f_evals"] == forward).all()
    case.loss(out).backward()
    backward = dynamics.nfe - forward
    if gradient == "adjoint":
        assert backward == sum(int(s["n_f_evals"][0]) for s in stats["backsolve"]) > 0
    else:
        assert backward == 0
    assert x.grad is not None and all(p.grad is not None for p in func.parameters())


@pytest.mark.parametrize("gradient", ["direct", "adjoint"])
def test_float32_states_with_float64_times_solve_and_differentiate_like_torchdiffeq(gradient):
    # The pipeline's setting: a float32 MNIST block at tol 1e-3. torchode keeps times
    # in float64; the dynamics, the state and every gradient stay float32.
    torch.manual_seed(0)
    case = CASES["mnist_block"]
    func = case.dynamics()
    h = case.state(torch.Generator().manual_seed(0))[:2]
    t, tol = T.float(), 1e-3
    results = {}
    for backend, tolerance in (("torchode", tol), ("torchdiffeq", tol), ("reference", 1e-6)):
        x = h.clone().requires_grad_(True)
        out = integrate(func, x, t, method="dopri5", tol=tolerance, options={},
                        gradient=gradient if backend != "reference" else "direct",
                        backend="torchdiffeq" if backend == "reference" else backend)  # fmt: skip
        grads = torch.autograd.grad(case.loss(out), [x, *func.parameters()])
        results[backend] = (out, torch.cat([g.flatten() for g in grads]))
        assert out.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads)
    (out, grad), (their_out, their_grad), (ref_out, ref_grad) = results.values()
    assert _dist(out, ref_out) <= 5 * _dist(their_out, ref_out) + 1e-5
    assert _rel(grad, ref_grad) <= 5 * _rel(their_grad, ref_grad) + 1e-5


def test_an_ode_block_runs_on_the_torchode_backend():
    _, func, h = _case("latent_mlp", 8)
    block = ODEBlock(func, tol=1e-5, gradient="adjoint", backend="torchode")
    out = block(h)
    assert out.shape == h.shape and block.nfe > 0
    with torch.no_grad():
        expected = _torchdiffeq(func, h, T, 1e-5)[-1]
    assert _dist(out, expected) < 1e-3
