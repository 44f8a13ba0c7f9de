"""Checkpoints: torch state written atomically and read back only by the run that wrote it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from odebench.core.artifacts import write_atomic


def save_torch(path: Path, obj: Any) -> None:
    write_atomic(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: Path, layout: int, config_hash: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it exists and was written by this layout and config.

    A checkpoint of another layout version or another run config is ignored (with a
    warning), never half-applied: the run then starts from scratch.
    """
    path = Path(path)
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != layout or state.get("config_hash") != config_hash:
        logging.getLogger(__name__).warning(
            "ignoring %s: written by another config or checkpoint layout", path
        )
        return None
    return state
