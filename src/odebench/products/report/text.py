"""Values as the report's text: Markdown table cells, numbers, sentences, RST cells."""

from __future__ import annotations

import math
from typing import Any


def cell(value: Any) -> str:
    """A Markdown table cell: pipes escaped, on one line."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


def number(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return cell(value)


def given(value: Any) -> bool:
    """Whether a claims.csv cell holds something (it is read without NaN: empty is "")."""
    return cell(value) not in ("", "–")


def sentence(text: str) -> str:
    """``text`` ending in a full stop, so that what follows starts a new sentence."""
    text = text.rstrip()
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def rst(value: Any) -> str:
    """Text safe inside an RST table cell: inline markup characters escaped, one line."""
    text = cell(value).replace("\\|", "|")
    for char in ("\\", "*", "`", "_", "|"):
        text = text.replace(char, "\\" + char)
    return text
