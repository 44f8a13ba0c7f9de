import pytest
import torch
from torch import nn

from odebench.core.measuring import SavedTensorMeter, config_hash, provenance
from odebench.core.solving import ODEBlock
from odebench.mnist.models import ConvDynamics


def activation_bytes(gradient: str, steps: int) -> tuple[int, int]:
    """Peak saved bytes and forward NFE of one training step of a conv ODE block."""
    torch.manual_seed(0)
    block = ODEBlock(ConvDynamics(16), method="rk4", step_size=1.0 / steps, gradient=gradient)
    x = torch.randn(4, 16, 6, 6)
    with SavedTensorMeter() as meter:
        out = block(x)
        nfe = block.nfe
        out.square().mean().backward()
    return meter.peak_bytes, nfe


def test_adjoint_activation_memory_is_constant_in_nfe():
    peaks = [activation_bytes("adjoint", steps) for steps in (1, 2, 4, 8)]
    assert [nfe for _, nfe in peaks] == [4, 8, 16, 32]
    assert len({peak for peak, _ in peaks}) == 1


def test_direct_backprop_activation_memory_grows_linearly_with_nfe():
    peaks = [activation_bytes("direct", steps)[0] for steps in (1, 2, 4, 8)]
    assert peaks == sorted(set(peaks))  # strictly increasing
    per_step = [b - a for a, b in zip(peaks, peaks[1:], strict=False)]
    # doubling the steps adds twice the bytes: linear in NFE
    assert per_step[1] == pytest.approx(2 * per_step[0], rel=0.05)
    assert per_step[2] == pytest.approx(2 * per_step[1], rel=0.05)


def test_meter_releases_everything_once_the_graph_is_freed():
    layer = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    with SavedTensorMeter() as meter:
        layer(torch.randn(5, 8)).sum().backward()
    assert meter.peak_bytes > 0
    assert meter.live_bytes == 0


def test_meter_does_not_count_parameters_or_a_storage_twice():
    weight = nn.Parameter(torch.randn(8, 8))
    x = torch.randn(4, 8, requires_grad=True)
    with SavedTensorMeter() as meter:
        y = x @ weight  # saves x (a leaf that requires grad: not counted) and weight
        z = y * y  # saves y twice: one storage
        z.sum().backward()
    assert meter.peak_bytes == y.untyped_storage().nbytes()


def test_gradients_are_the_same_with_and_without_the_meter():
    torch.manual_seed(0)
    block = ODEBlock(ConvDynamics(16), tol=1e-2, gradient="adjoint")
    x = torch.randn(2, 16, 6, 6)
    block(x).sum().backward()
    plain = [p.grad.clone() for p in block.parameters()]
    block.zero_grad()
    with SavedTensorMeter():
        block(x).sum().backward()
    for a, p in zip(plain, block.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad)


def test_config_hash_ignores_key_order_but_not_values():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_provenance_names_commit_versions_device_threads_and_seed():
    prov = provenance({"x": 1}, torch.device("cpu"), seed=7)
    assert prov["seed"] == 7
    assert prov["device"] == "cpu"
    assert prov["torch_threads"] == torch.get_num_threads()
    assert prov["packages"]["torch"].startswith("2.13.0")
    assert prov["packages"]["torchdiffeq"] == "0.2.5"
    assert prov["git_commit"]
    assert prov["config_hash"] == config_hash({"x": 1})
