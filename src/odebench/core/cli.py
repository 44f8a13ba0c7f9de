"""A family's entry point with subcommands: ``python -m odebench.<family> COMMAND ...``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence

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
