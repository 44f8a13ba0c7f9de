import pytest
import torch
import yaml

from odebench.core.measuring import count_parameters
from odebench.core.solving import ode_blocks
from odebench.mnist.models import MODELS, ODE_MODELS, build_model

# Exact counts of the architecture in the issue / torchdiffeq's odenet_mnist.py.
EXPECTED_PARAMS = {
    "mlp": 238_510,
    "resnet": 576_778,
    "rknet": 208_266,
    "odenet": 208_266,
    "stem": 132_874,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_has_its_exact_parameter_count(name):
    assert count_parameters(build_model(name, {"tol": 1e-3})) == EXPECTED_PARAMS[name]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_maps_a_batch_of_images_to_ten_logits(name):
    model = build_model(name, {"tol": 0.1})
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_paper_sized_models_are_within_five_percent_of_the_paper_except_resnet():
    paper = {"mlp": 0.24e6, "rknet": 0.22e6, "odenet": 0.22e6}
    for name, count in paper.items():
        # 0.22M is the paper's rounding of anything in [0.215M, 0.225M).
        low = count - 0.005e6
        assert abs(EXPECTED_PARAMS[name] - low) / low < 0.05, name


def test_unknown_model_fails_with_the_known_names():
    with pytest.raises(ValueError, match="unknown model 'vgg'.*mlp, resnet, rknet, odenet, stem"):
        build_model("vgg")


def test_ode_models_differ_only_in_gradient_mode():
    odenet, rknet = build_model("odenet"), build_model("rknet")
    assert [b.gradient for b in ode_blocks(odenet)] == ["adjoint"]
    assert [b.gradient for b in ode_blocks(rknet)] == ["direct"]
    assert ODE_MODELS == {"odenet", "rknet"}


def test_config_schema_admits_exactly_the_registered_models(repo):
    schema = yaml.safe_load(open(repo / "workflow/schemas/config.schema.yaml"))
    assert set(schema["$defs"]["mnist"]["properties"]["models"]["items"]["enum"]) == set(MODELS)


def test_public_api_builds_and_measures_a_model():
    import odebench

    model = odebench.build_model("odenet", {"tol": 0.1})
    with odebench.SavedTensorMeter() as meter:
        model(torch.rand(2, 1, 28, 28)).sum().backward()
    assert meter.peak_bytes > 0
    assert odebench.count_parameters(model) == EXPECTED_PARAMS["odenet"]


def _concatenated(conv, t, x):
    """The time channel as torchdiffeq's example builds it: concatenated to the input."""
    tt = torch.ones_like(x[:, :1]) * t
    return conv.conv(torch.cat([tt, x], 1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_time_channel_is_added_as_a_map_equal_to_concatenating_it(dtype):
    from odebench.mnist.models import ConcatConv2d

    torch.manual_seed(0)
    conv = ConcatConv2d(8, 8).to(dtype)
    x = torch.randn(4, 8, 6, 6, dtype=dtype)
    per_sample = torch.rand(4, 1, 1, 1, dtype=dtype)
    for t in (torch.tensor(0.7, dtype=dtype), per_sample):
        expected = torch.cat([_concatenated(conv, ti, xi[None]) for ti, xi in
                              zip(t.expand(4, 1, 1, 1), x, strict=True)])  # fmt: skip
        rtol = 1e-5 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(conv(t, x), expected, rtol=rtol, atol=rtol)
    with pytest.raises(ValueError, match=r"shape \(B, 1, 1, 1\)"):
        conv(torch.rand(4), x)


def test_the_dynamics_keep_channels_last_weights_through_loading_and_double():
    from odebench.mnist.models import ConvDynamics

    source, target = ConvDynamics(), ConvDynamics()
    target.load_state_dict(source.state_dict())
    for model in (target, target.double()):
        weight = model.conv1.conv.weight
        assert weight.is_contiguous(memory_format=torch.channels_last)
        assert weight.shape == (64, 65, 3, 3)  # the same parameter as the concatenated form
