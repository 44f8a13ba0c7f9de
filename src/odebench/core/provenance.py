"""Where a result came from, without torch: config hash, git commit, package versions.

:func:`odebench.core.measuring.provenance` adds the device; the products stamp the
report with the commit from here.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

#: Pathspecs of the tree's outputs, which do not make a commit dirty: a user's runs and
#: the committed reference run.
NOT_CODE = (":!results", ":!reference")

#: Distributions whose versions every run records.
PROVENANCE_PACKAGES = ("torch", "torchdiffeq", "scipy", "numpy", "pandas", "snakemake", "odebench")


def config_hash(cfg: Mapping[str, Any]) -> str:
    """Short, stable hash of a resolved config (key order does not matter)."""
    blob = json.dumps(cfg, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def git_commit(repo: Path | None = None) -> str:
    """The current commit, with ``-dirty`` when tracked code has uncommitted changes.

    ``results/`` and ``reference/`` are left out: a pipeline that writes its outputs
    into the tree (and commits the reference run) would otherwise always look dirty.
    """
    cwd = repo or Path.cwd()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *NOT_CODE],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def package_versions(names: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
