"""The run envelope: how every family opens a run directory and closes it with metrics.json.

Whatever a family trains, its run directory must explain itself the same way (the
output contract: "one metrics.json per trained run, holding the resolved config
and provenance"), so opening and closing a run happen here, once:

- :meth:`RunEnvelope.open` resolves the device (a clear one-line error before
  anything is written if it cannot be had), creates the directory, writes the
  resolved config as ``config.json`` (atomically), sets torch's threads and takes
  the provenance. Provenance is taken at the start, because it must describe the
  code that trained the run, not whatever the tree holds when it ends.
- :meth:`RunEnvelope.close` writes ``metrics.json``: the common part
  (:data:`COMMON_KEYS`) merged with the family's own results.

A run that is killed between the two leaves config.json and its checkpoint but no
metrics.json, so Snakemake (and a person) see it as unfinished.

May import torch, torchdiffeq, numpy and :mod:`odebench.core.paths` only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from odebench.core import artifacts, paths
from odebench.core.measuring import cuda_peak_bytes, peak_rss_bytes, provenance
from odebench.core.status import Outcome

log = logging.getLogger(__name__)

#: Keys every metrics.json holds, whatever the family (tables read them all alike).
COMMON_KEYS = (
    "family", "arm", "seed", "status", "status_detail", "params", "peak_rss_bytes",
    "cuda_max_memory_allocated_bytes", "wall_seconds", "config", "provenance",
)  # fmt: skip

#: Kinds of torch device a run config may name (``auto``: cuda when available).
DEVICE_TYPES = ("cpu", "cuda")


class RunConfigError(ValueError):
    """A run config that cannot be run here; the message is one line naming the key."""


def resolve_device(name: str) -> torch.device:
    """The torch device of a run config's ``device``: cpu, cuda (or cuda:N) or auto."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    known = ", ".join((*DEVICE_TYPES, "auto"))
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise RunConfigError(f"invalid config: device: {name!r} is not one of: {known}") from None
    if device.type not in DEVICE_TYPES:
        raise RunConfigError(f"invalid config: device: {name!r} is not one of: {known}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RunConfigError("invalid config: device: cuda requested but not available")
    return device


@dataclass
class RunEnvelope:
    """An open run: where it writes, on which device, and how it was made.

    Attributes:
        config: the resolved run config, as written to config.json and hashed.
        out_dir: the run directory.
        family, arm: what metrics.json says the run is (tables group by them).
        device: where the family puts its model and data.
        threads: torch's intra-op threads.
        provenance: taken when the run opened (:func:`~odebench.core.measuring.provenance`).
    """

    config: dict[str, Any]
    out_dir: Path
    family: str
    arm: str | None
    device: torch.device
    threads: int
    provenance: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def open(
        cls,
        config: Mapping[str, Any],
        out_dir: Path,
        *,
        family: str,
        arm: str | None,
        threads: int = 1,
        device: str | torch.device | None = None,
    ) -> RunEnvelope:
        """Open the run in ``out_dir``.

        Arguments:
            device: where the run computes; by default the config's ``device`` (cpu
                when it names none). A family that cannot use an accelerator passes
                ``"cpu"`` here, so that its provenance says where it really ran.
        """
        started = time.perf_counter()
        config = dict(config)
        if not isinstance(device, torch.device):
            device = resolve_device(device or config.get("device", "cpu"))
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(threads)
        if device.type == "cuda":  # the peak that metrics.json reports is this run's own
            torch.cuda.reset_peak_memory_stats(device)
        artifacts.write_json(out_dir / paths.CONFIG_JSON, config)
        seed = config.get("seed")
        prov = provenance(config, device, seed) | {"threads": threads}
        log.info("run %s %s seed %s on %s, %d threads: %s", family, arm, seed, device, threads,
                 json.dumps(config))  # fmt: skip
        return cls(config, out_dir, family, arm, device, threads, prov, started)

    def close(
        self,
        outcome: Outcome,
        results: Mapping[str, Any],
        *,
        params: int | None = None,
    ) -> dict[str, Any]:
        """Write metrics.json (the common keys and the family's ``results``) and return it."""
        clash = sorted(set(results) & set(COMMON_KEYS))
        if clash:
            raise ValueError(f"results may not redefine the common keys {clash}")
        metrics = {
            "family": self.family, "arm": self.arm, "seed": self.config.get("seed"),
            "status": outcome.status, "status_detail": outcome.detail,
            **results,
            "params": params,
            "peak_rss_bytes": peak_rss_bytes(),
            "cuda_max_memory_allocated_bytes": cuda_peak_bytes(self.device),
            "wall_seconds": time.perf_counter() - self.started,
            "config": self.config,
            "provenance": self.provenance,
        }  # fmt: skip
        artifacts.write_json(self.out_dir / paths.METRICS_JSON, metrics)
        log.info("run %s %s seed %s: status %s%s in %.1f s", self.family, self.arm,
                 metrics["seed"], outcome.status, f" ({outcome.detail})" if outcome.detail else "",
                 metrics["wall_seconds"])  # fmt: skip
        return metrics
