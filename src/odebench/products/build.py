"""Building one registered product: a table from its inputs, a figure from its tables.

The one table rule and the one figure rule call this through the entry point::

    python -m odebench.products table NAME --inputs '{"metrics": [...]}' --settings '{}' \\
        --reference paper/reference.yaml --out results/cpu/tables/NAME.csv
    python -m odebench.products figure NAME --tables TABLE.csv... --out results/cpu/figures/NAME.png

A user rebuilds any product by hand the same way.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.core.cli import command_main
from odebench.products import registry
from odebench.products.reference import load_reference

log = logging.getLogger(__name__)


def build_table(
    name: str,
    inputs: Mapping[str, Sequence[Path]],
    reference: Mapping[str, Any],
    settings: Mapping[str, Any],
    out: Path,
) -> None:
    """Write table ``name`` (its csv, and its .md and .tex where it has them) to ``out``."""
    table = registry.lookup(registry.BUILT_TABLES, name)
    expected, given = set(table.inputs), set(inputs)
    if expected != given:
        raise ValueError(f"{name} reads inputs {sorted(expected)}, given {sorted(given)}")
    files = {key: [Path(p) for p in value] for key, value in inputs.items()}
    missing = [str(p) for value in files.values() for p in value if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    table.load_builder()(files, reference, settings, Path(out))
    log.info("wrote %s", out)


def draw_figure(name: str, tables: Sequence[Path], out: Path) -> None:
    """Draw figure ``name`` from its tables' csv files into ``out`` (png, written atomically)."""
    figure = registry.lookup(registry.FIGURES, name)
    by_name = {Path(path).stem: Path(path) for path in tables}
    missing = [table.name for table in figure.tables if table.name not in by_name]
    if missing:
        raise FileNotFoundError(f"{name} draws from {', '.join(missing)}: not given")
    frames = {table.name: pd.read_csv(by_name[table.name]) for table in figure.tables}
    from odebench.products.figures import style  # matplotlib, only when a figure is drawn

    style.save(figure.load_builder()(frames), Path(out))
    log.info("wrote %s", out)


def _arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True)
    table = commands.add_parser("table", help="build one table")
    table.add_argument("name", help=f"one of: {', '.join(registry.BUILT_TABLES)}")
    table.add_argument("--inputs", required=True, help="input name -> list of files, JSON")
    table.add_argument("--settings", default="{}", help="the builder's settings, JSON")
    table.add_argument("--reference", type=Path, default=Path("paper/reference.yaml"))
    table.add_argument("--out", type=Path, required=True, help="the csv to write")
    figure = commands.add_parser("figure", help="draw one figure")
    figure.add_argument("name", help=f"one of: {', '.join(registry.FIGURES)}")
    figure.add_argument("--tables", type=Path, nargs="+", required=True, help="its tables' csv")
    figure.add_argument("--out", type=Path, required=True, help="the png to write")


def _build(args: argparse.Namespace) -> None:
    if args.command == "table":
        build_table(args.name, json.loads(args.inputs), load_reference(args.reference),
                    json.loads(args.settings), args.out)  # fmt: skip
    else:
        draw_figure(args.name, args.tables, args.out)


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m odebench.products", __doc__.split("\n")[0], _arguments,
                        _build, argv)  # fmt: skip
