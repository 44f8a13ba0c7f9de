"""The precision paths of an MNIST training step (odebench.mnist.precision)."""

import copy

import pytest
import torch

from odebench.mnist import train as mnist
from odebench.mnist.precision import PRECISIONS, precision


def test_unknown_precision_fails_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown precision 'fp16'; known: fp32, bf16_conv"):
        precision("fp16")


def test_bf16_convolutions_hold_only_inside_the_step_and_are_restored_after():
    before = torch.backends.mkldnn.conv.fp32_precision
    with precision("bf16_conv").step():
        assert torch.backends.mkldnn.conv.fp32_precision == "bf16"
    assert torch.backends.mkldnn.conv.fp32_precision == before
    with pytest.raises(RuntimeError), precision("bf16_conv").step():
        raise RuntimeError("a failed step")
    assert torch.backends.mkldnn.conv.fp32_precision == before


@pytest.mark.parametrize("name", ["bf16_conv", "bf16_autocast"])
def test_a_bf16_path_rounds_a_convolution_no_more_than_bfloat16_does(name):
    # bfloat16 keeps 8 bits of mantissa: a relative error of about 2^-8 per rounding.
    # Where a CPU lacks the kernels, oneDNN computes in float32 and the error is ~0.
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(8, 64, 7, 7)
    exact = conv(x)
    path = precision(name)
    with path.step(), path.forward():
        rounded = conv(x).float()
    assert rounded.dtype == torch.float32
    assert (rounded - exact).norm() / exact.norm() < 2e-2


def test_bf16_convolutions_train_a_run_with_float32_weights_and_counted_nfe(tiny_run, tmp_path):
    run = copy.deepcopy(tiny_run) | {"precision": "bf16_conv", "epochs": 1}
    metrics = mnist.train(run, tmp_path)
    assert metrics["status"] == "completed"
    assert metrics["config"]["precision"] == "bf16_conv"
    assert metrics["nfe_forward"] > 0 and metrics["nfe_backward"] > 0
    assert metrics["activation_bytes"] > 0
    weights = torch.load(tmp_path / "model.pt", weights_only=True)
    assert {w.dtype for w in weights.values()} == {torch.float32}


def test_a_config_from_before_the_key_trains_in_float32(tiny_run, tmp_path):
    run = copy.deepcopy(tiny_run)
    run.pop("precision")
    assert mnist.Trainer(run, tmp_path).precision is PRECISIONS["fp32"]
