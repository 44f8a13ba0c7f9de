"""What an MNIST training step computes in: float32, or bfloat16 where the CPU makes it pay.

Each entry of :data:`PRECISIONS` is two context managers: ``step`` around the whole of
training and evaluation, ``forward`` around each forward pass.

- ``fp32``: plain float32, every budget's default.
- ``bf16_conv``: oneDNN runs the float32 model's convolutions in bfloat16
  (``torch.backends.mkldnn.conv.fp32_precision = "bf16"``). Weights, activations and the
  solver's state stay float32, so the bytes saved for backward, the NFE counts and the
  solver's error control are measured as in ``fp32``; only the convolutions round.
- ``bf16_autocast``: ``torch.autocast("cpu", torch.bfloat16)`` around the forward pass.
  The ODE solver keeps its state in float32, so every evaluation casts in and out.

Which path is faster depends on the CPU (AMX, AVX-512 BF16, or neither: on an AVX2-only
CPU bfloat16 arithmetic is emulated and slower). ``python -m odebench.perf.steps``
measures every path against ``fp32`` on the machine at hand; a path other than ``fp32``
is chosen in config.yaml only with its validation error beside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

#: The default: what every budget's numbers were measured with.
DEFAULT = "fp32"


@dataclass(frozen=True)
class Precision:
    step: Callable[[], AbstractContextManager]
    forward: Callable[[], AbstractContextManager]


@contextlib.contextmanager
def _bf16_convolutions() -> Iterator[None]:
    before = torch.backends.mkldnn.conv.fp32_precision
    torch.backends.mkldnn.conv.fp32_precision = "bf16"
    try:
        yield
    finally:
        torch.backends.mkldnn.conv.fp32_precision = before


def _autocast() -> AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16)


PRECISIONS: dict[str, Precision] = {
    "fp32": Precision(contextlib.nullcontext, contextlib.nullcontext),
    "bf16_conv": Precision(_bf16_convolutions, contextlib.nullcontext),
    "bf16_autocast": Precision(contextlib.nullcontext, _autocast),
}


def precision(name: str) -> Precision:
    """The registered path ``name``; unknown names fail with the list of known ones."""
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ValueError(f"unknown precision {name!r}; known: {', '.join(PRECISIONS)}") from None
