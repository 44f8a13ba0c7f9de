"""The MNIST arms of Table 1 and the registry that builds them from config.

Shared parts follow the paper and torchdiffeq's published MNIST architecture
(examples/odenet_mnist.py, ``--downsampling-method conv``):

- GN = GroupNorm(min(32, C), C)
- stem = Conv(1->64, 3x3) -> GN -> ReLU -> Conv(64->64, 4x4, s2, p1) -> GN -> ReLU
  -> Conv(64->64, 4x4, s2, p1); a 28x28 image becomes 64 x 6 x 6 features
- head = GN -> ReLU -> global average pool -> Linear(64->10)

Unknown model names fail with the list of known ones (:func:`build_model`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from odebench.core.solving import ODEBlock, solver_keys
from odebench.mnist.arms import ODE_MODELS  # noqa: F401  (re-exported beside MODELS)

CHANNELS = 64
N_CLASSES = 10


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels), channels)


def stem(channels: int = CHANNELS) -> nn.Sequential:
    """Downsampling: 1x28x28 -> channels x 6 x 6."""
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, 1),
        group_norm(channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 4, 2, 1),
        group_norm(channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 4, 2, 1),
    )


def head(channels: int = CHANNELS) -> nn.Sequential:
    return nn.Sequential(
        group_norm(channels),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, N_CLASSES),
    )


class ResBlock(nn.Module):
    """Pre-activation residual block GN-ReLU-Conv3x3-GN-ReLU-Conv3x3, identity shortcut.

    Convolutions have no bias (they are followed by GroupNorm), as in torchdiffeq's
    ResBlock; this is why our ResNet has 0.58M parameters, not the paper's 0.60M.
    """

    def __init__(self, channels: int = CHANNELS):
        super().__init__()
        self.body = nn.Sequential(
            group_norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            group_norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConcatConv2d(nn.Module):
    """3x3 convolution that sees time as one extra constant input channel.

    Its weight is kept in channels-last memory format: the same numbers in another
    layout, which oneDNN's CPU convolution backward runs about 20% faster on the
    ODE block's 6 x 6 maps (measured for ConvDynamics, batch 128, 2 threads). The
    parameter is the same (65 input channels, the time channel first), so state
    dicts and checkpoints from before load into it.

    ``t``: one time (0-dim or one element), or one per sample of shape (B, 1, 1, 1).
    """

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.conv = nn.Conv2d(dim_in + 1, dim_out, 3, 1, 1)
        self.conv.weight.data = self.conv.weight.data.contiguous(memory_format=torch.channels_last)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # conv([t 1, x]) = conv(x) + t conv(1): the time channel's contribution is t times
        # one (channels x H x W) map (not a constant: zero padding cuts it at the border),
        # so the state is never copied into a 65-channel input. Equal to the concatenated
        # form up to rounding (~3e-6 on the ODE block); ~15% faster forward on the CPU.
        if t.numel() != 1 and t.dim() != 4:
            raise ValueError(f"t must be one time or of shape (B, 1, 1, 1); got {tuple(t.shape)}")
        w = self.conv.weight
        out = F.conv2d(x, w[:, 1:], self.conv.bias, 1, 1)
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        return out + t * F.conv2d(ones, w[:, :1], None, 1, 1)


class ConvDynamics(nn.Module):
    """f(t, h) = GN -> ReLU -> ConcatConv -> GN -> ReLU -> ConcatConv -> GN."""

    def __init__(self, channels: int = CHANNELS):
        super().__init__()
        self.norm1 = group_norm(channels)
        self.conv1 = ConcatConv2d(channels, channels)
        self.norm2 = group_norm(channels)
        self.conv2 = ConcatConv2d(channels, channels)
        self.norm3 = group_norm(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        out = self.conv1(t, self.relu(self.norm1(h)))
        out = self.conv2(t, self.relu(self.norm2(out)))
        return self.norm3(out)


def build_mlp(cfg: Mapping[str, Any]) -> nn.Module:
    """The paper's 1-layer MLP: 784 -> hidden -> 10 (0.24M parameters at 300 units)."""
    hidden = int(cfg.get("mlp_hidden", 300))
    return nn.Sequential(
        nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 10)
    )


def build_resnet(cfg: Mapping[str, Any]) -> nn.Module:
    blocks = [ResBlock() for _ in range(int(cfg.get("resnet_blocks", 6)))]
    return nn.Sequential(stem(), *blocks, head())


def _ode_net(cfg: Mapping[str, Any], gradient: str) -> nn.Module:
    block = ODEBlock(
        ConvDynamics(),
        tol=float(cfg.get("tol", 1e-3)),
        method=str(cfg.get("solver", "dopri5")),
        gradient=gradient,
        max_num_steps=int(cfg.get("max_num_steps", 10_000)),
        **solver_keys(cfg),
    )
    return nn.Sequential(stem(), block, head())


def build_odenet(cfg: Mapping[str, Any]) -> nn.Module:
    """stem + ODE block + head, gradients by the adjoint method (the paper's ODE-Net)."""
    return _ode_net(cfg, "adjoint")


def build_rknet(cfg: Mapping[str, Any]) -> nn.Module:
    """The same network, gradients by backpropagating through the solver (RK-Net)."""
    return _ode_net(cfg, "direct")


def build_stem(cfg: Mapping[str, Any]) -> nn.Module:
    """stem + head, no residual or ODE block: the ablation of torchdiffeq issues #25/#32."""
    return nn.Sequential(stem(), head())


#: Model name -> constructor taking the run config (in :data:`~odebench.mnist.arms.ARMS` order).
MODELS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {
    "mlp": build_mlp,
    "resnet": build_resnet,
    "rknet": build_rknet,
    "odenet": build_odenet,
    "stem": build_stem,
}


def build_model(name: str, cfg: Mapping[str, Any] | None = None) -> nn.Module:
    """Build a registered model; unknown names fail with the list of known ones."""
    try:
        constructor = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
    return constructor(cfg or {})
