"""The paper's side: ``paper/reference.yaml``, its published numbers and their sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: The reference file of this repository.
REFERENCE = Path(__file__).resolve().parents[3] / "paper" / "reference.yaml"


def load_reference(path: Path = REFERENCE) -> dict[str, Any]:
    """paper/reference.yaml as a dict."""
    with open(path) as f:
        return yaml.safe_load(f)
