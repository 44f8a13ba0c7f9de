"""Entry points: a family's subcommands, one command's parse-run-fail-in-one-line, and one
run's ``--run-config`` interface."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: A subcommand: its own ``main(argv)``, returning the exit status.
Command = Callable[[Sequence[str]], int]


def dispatch(prog: str, commands: Mapping[str, Command], argv: Sequence[str] | None = None) -> int:
    """Run the subcommand named by ``argv[0]`` on the rest; an unknown one fails in one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in commands:
        given = f"unknown command {argv[0]!r}" if argv else "a command is required"
        print(f"usage: {prog} {{{','.join(commands)}}} ...\n{prog}: error: {given}",
              file=sys.stderr)  # fmt: skip
        return 2
    return commands[argv[0]](argv[1:])


#: The errors an entry point ends in one line by default: a bad config, a missing file.
ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, ValueError, KeyError)


def command_main(
    prog: str,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    action: Callable[[argparse.Namespace], int | None],
    argv: Sequence[str] | None = None,
    *,
    errors: tuple[type[BaseException], ...] = ERRORS,
) -> int:
    """The entry point of one command: parse ``argv``, then ``action(args)``.

    Builds the parser (``prog``, ``description``), lets ``add_arguments(parser)`` declare
    the arguments, sets up logging (INFO, timestamped, on stderr) and runs ``action``; its
    return value is the exit status (``None``: 0). ``errors`` end in one line on stderr,
    ``PROG: error: MESSAGE``, and exit status 1; a usage error is argparse's (status 2).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        status = action(args)
    except errors as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    return 0 if status is None else status


def run_main(
    prog: str,
    description: str,
    run: Callable[..., Any],
    argv: Sequence[str] | None = None,
    *,
    errors: tuple[type[BaseException], ...] = ERRORS,
    out_help: str = "the run directory",
    threads: bool = True,
) -> int:
    """The entry point of one run: ``PROG --run-config JSON --out PATH [--threads N]``.

    Calls ``run(config, out, threads)`` (``run(config, out)`` without ``threads``). The
    pipeline builds the complete config, seed inside, and hands it over whole: one way
    in, the same from a rule, a test or a shell. ``errors`` (a bad config, a missing
    file) end in one line on stderr and exit status 1 (:func:`command_main`).
    """

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--run-config",
            required=True,
            help="the run's complete config (the pipeline's plan builds it), JSON",
        )
        parser.add_argument("--out", type=Path, required=True, help=out_help)
        if threads:
            parser.add_argument("--threads", type=int, default=1, help="torch threads")

    def action(args: argparse.Namespace) -> None:
        config = json.loads(args.run_config)
        if threads:
            run(config, args.out, args.threads)
        else:
            run(config, args.out)

    return command_main(prog, description, add_arguments, action, argv, errors=errors)
