"""Measurements shared by every experiment family: activation memory, RSS, provenance.

Activation memory is the peak number of bytes held by tensors that autograd saved
for backward, tracked exactly with ``torch.autograd.graph.saved_tensors_hooks``.
It does not depend on the device or the allocator, so the O(1) memory of the
adjoint versus the O(NFE) memory of direct backpropagation shows on a CPU.

May import torch, torchdiffeq, numpy and :mod:`odebench.core.paths` only.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from odebench.core.provenance import config_hash, git_commit, package_versions


class _Saved:
    """What the pack hook hands to autograd: the tensor plus a release callback."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor


class SavedTensorMeter:
    """Context manager measuring live and peak bytes of tensors saved for backward.

    Storages are counted once however many times they are saved, and parameters
    (leaf tensors that require grad) are not counted: autograd saves a reference
    to them, not a copy, so they cost no activation memory.

    Use it around a whole training step (forward and ``backward()``): tensors are
    released when autograd frees the graph, and the adjoint's backward solve
    builds and frees small graphs of its own, which are counted while they live.

    Attributes:
        peak_bytes: the maximum of the live saved bytes while the context was open.
        live_bytes: the saved bytes still alive now.
    """

    def __init__(self) -> None:
        self.live_bytes = 0
        self.peak_bytes = 0
        self._refs: dict[int, list[int]] = {}  # storage ptr -> [count, nbytes]
        self._hooks: torch.autograd.graph.saved_tensors_hooks | None = None

    def _release(self, key: int) -> None:
        entry = self._refs.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.live_bytes -= entry[1]
            del self._refs[key]

    def _pack(self, tensor: torch.Tensor) -> Any:
        if tensor.is_leaf and tensor.requires_grad:
            return tensor
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        entry = self._refs.get(key)
        if entry is None:
            nbytes = storage.nbytes()
            self._refs[key] = [1, nbytes]
            self.live_bytes += nbytes
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        else:
            entry[0] += 1
        # Keep only the data: holding the tensor itself would keep its grad_fn alive,
        # a C++ reference cycle (node -> saved variable -> tensor -> node) that
        # Python's garbage collector cannot break, and the graph would leak.
        saved = _Saved(tensor.detach())
        weakref.finalize(saved, self._release, key)
        return saved

    @staticmethod
    def _unpack(saved: Any) -> torch.Tensor:
        return saved.tensor if isinstance(saved, _Saved) else saved

    def __enter__(self) -> SavedTensorMeter:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._hooks is not None
        self._hooks.__exit__(*exc)
        self._hooks = None


def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) * (1 if sys.platform == "darwin" else 1024)


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def cuda_peak_bytes(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    return int(torch.cuda.max_memory_allocated(device))


def provenance(cfg: Mapping[str, Any], device: torch.device, seed: int) -> dict[str, Any]:
    """Everything needed to say how a result was made."""
    return {
        "git_commit": git_commit(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        ),
        # The CUDA toolkit torch was built with (None for a CPU build), for GPU runs.
        "cuda_version": torch.version.cuda,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "seed": seed,
        "config_hash": config_hash(cfg),
    }
