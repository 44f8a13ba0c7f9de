"""Atomic writes: a file either appears complete or not at all.

Snakemake deletes the outputs of a failed job, but runs started by hand, and the
checkpoints that let a long run resume, must never be left half-written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_csv(path: Path, fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A csv with header ``fields`` and one line per row of values."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(fields)
    writer.writerows(rows)
    write_text(path, text.getvalue())


def write_records(path: Path, fields: Sequence[str], records: Iterable[Mapping[str, Any]]) -> None:
    """A csv of dict records in the column order ``fields`` (absent entries empty)."""
    write_csv(path, fields, ([record.get(f, "") for f in fields] for record in records))


def read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)
