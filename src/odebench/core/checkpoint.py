"""Checkpoints: torch state written atomically and read back only by the run that wrote it.

Every family writes the same envelope: the layout version :data:`LAYOUT` and the
hash of the run config beside the state itself (what goes in it is
:class:`~odebench.core.training.IterativeTrainer`'s business). A checkpoint that a
run cannot resume from must never stop a run that could simply start over:

- the file cannot be read (a truncated or garbled ``checkpoint.pt``): it is moved
  aside, renamed next to itself (``checkpoint.pt.unreadable-<time>``) so that nothing
  is deleted and the next attempt does not trip over it again;
- it was written by another layout or another run config: it is ignored, never
  half-applied, and overwritten by the run's first checkpoint.

Each case logs one warning naming the file.

May import torch, torchdiffeq, numpy and :mod:`odebench.core.paths` only.
"""

from __future__ import annotations

import logging
import pickle
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from odebench.core.artifacts import write_atomic

log = logging.getLogger(__name__)

#: Layout version of every checkpoint.pt; a checkpoint of another layout is not resumed from.
#: (Before there was one layout, MNIST and spirals wrote 2 and CNF 1 under the key "format".)
LAYOUT = 3

#: What ``torch.load`` raises on a file that is not a complete checkpoint: a truncated zip
#: ("PytorchStreamReader failed reading zip archive", or OSError "Invalid argument"), an
#: empty file, garbage, or objects that ``weights_only`` refuses to unpickle.
UNREADABLE = (
    RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
)  # fmt: skip


def save_torch(path: Path, obj: Any) -> None:
    write_atomic(path, lambda f: torch.save(obj, f))


def save(path: Path, config_hash: str, state: Mapping[str, Any]) -> None:
    """Write ``state`` as the checkpoint of the run whose config hashes to ``config_hash``."""
    save_torch(path, {"layout": LAYOUT, "config_hash": config_hash, **state})


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.unreadable-<time>`` beside it (never over another file)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.unreadable-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.unreadable-{stamp}-{n}")
    path.rename(target)
    return target


def load(path: Path, config_hash: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is one that this layout and config can resume from.

    Returns None (and the run starts from scratch) when there is none, when it is
    unreadable (then it is moved aside) and when it belongs to another layout or
    config. Tensors are loaded onto the CPU; ``load_state_dict`` puts them where the
    model and optimizer live.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"holds a {type(state).__name__}, not a checkpoint")
    except PermissionError:
        raise  # the file may be fine: a person must look, not the run start over
    except UNREADABLE as err:
        # The first sentence: torch's zip errors go on with a paragraph of advice.
        reason = str(err).split("\n")[0].split(". ")[0] or type(err).__name__
        moved = move_aside(path)
        log.warning("unreadable checkpoint %s (%s): moved aside to %s; training from scratch",
                    path, reason, moved.name)  # fmt: skip
        return None
    if state.get("layout") != LAYOUT:
        log.warning("ignoring %s: checkpoint layout %s, this code writes %d; training from scratch",
                    path, state.get("layout"), LAYOUT)  # fmt: skip
        return None
    if state.get("config_hash") != config_hash:
        log.warning("ignoring %s: written by another run config; training from scratch", path)
        return None
    return state
