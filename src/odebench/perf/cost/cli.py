"""The price of a budget: how many device-hours its training runs and studies take here.

The command line of :mod:`odebench.perf.cost` (``python -m odebench.perf.cost``, see
there): prices a budget (:func:`~odebench.perf.cost.estimate.cost`), prints its table
(:func:`~odebench.perf.cost.table.report`) and, with ``--json PATH``, writes the numbers.
The first line of this docstring is the command's description in ``--help``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from odebench.perf.cost.estimate import cost
from odebench.perf.cost.jobs import FAMILIES, CostError
from odebench.perf.cost.table import report
from odebench.pipeline import config as configuration

PROG = "python -m odebench.perf.cost"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--budget", help="smoke | cpu | paper (default: config.yaml's)")
    parser.add_argument("--configfile", type=Path, default=configuration.DEFAULT_CONFIG)
    parser.add_argument("--device", help="cpu | cuda | auto (default: config.yaml's)")
    parser.add_argument("--threads", type=int, help="threads of a MNIST or probe job "
                        "(default: config.yaml's)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=3, help="timed steps per arm (default 3)")
    parser.add_argument("--cores", type=int, help="cores to pack jobs onto (default: this "
                        "machine's)")  # fmt: skip
    parser.add_argument("--family", action="append", choices=FAMILIES,
                        help="cost only this family (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        result = cost(args.budget, configfile=args.configfile, device=args.device,
                      threads=args.threads, steps=args.steps, cores=args.cores,
                      families=args.family or FAMILIES, progress=progress)  # fmt: skip
    except (CostError, configuration.ConfigError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    print(report(result))
    if args.json:
        from odebench.core import artifacts

        artifacts.write_json(args.json, result)
    return 0
