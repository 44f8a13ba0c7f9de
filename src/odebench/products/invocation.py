"""The Snakemake invocation that made a run: how long a user waited, and where it went.

At the end of a successful invocation that ran jobs, the Snakefile keeps Snakemake's own
log as ``results/<budget>/logs/snakemake.log`` (:func:`odebench.core.paths.snakemake_log`).
This reads it: the command, the start, Snakemake's "Elapsed time" (where the log has it;
otherwise its first to last timestamp), and per experiment family the jobs, their summed
minutes and the minutes during which at least one of them ran (jobs run side by side, so
the families' minutes add up to more than the elapsed time).

    python -m odebench.products.invocation results/cpu/logs/snakemake.log
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from odebench.core import paths
from odebench.families import RULE_PARTS, RUN_FAMILIES
from odebench.products.tables.formatting import markdown_table

#: Rule -> the part of the paper its time is counted under (the experiment packages'
#: rules from :data:`odebench.families.RULE_PARTS`); other rules count as themselves.
RULE_FAMILY = {
    **RULE_PARTS,
    **{rule: "tables, figures, claims, report" for rule in (
        "table", "table_with_documents", "figure", "claims", "report", "report_pdf", "compare")},
}  # fmt: skip

#: Rules whose jobs each make one run directory (``runs/<family>/<arm>/seed<s>/``).
RUN_RULES = frozenset(family.rule for family in RUN_FAMILIES.values())

_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_START = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
_ELAPSED = re.compile(r"^Elapsed time: (?:(\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d+)?)$")
_COMMAND = re.compile(r"^\s+Command: (.+)$")


@dataclass(frozen=True)
class Invocation:
    command: str
    started: datetime
    elapsed: timedelta
    elapsed_from_log: bool  # Snakemake's own "Elapsed time" line, not the timestamps
    planned: int  # the jobs its "Job stats" listed
    jobs: pd.DataFrame  # jobid, rule, family, start, end (finished jobs)

    @property
    def runs_made(self) -> int:
        """Finished jobs that made a run directory (:data:`RUN_RULES`)."""
        return int(self.jobs["rule"].isin(RUN_RULES).sum())

    def per_family(self) -> pd.DataFrame:
        """Per family: jobs, their summed minutes, and the minutes any of them ran."""
        rows = []
        for family, group in self.jobs.groupby("family", sort=False):
            spans = sorted(zip(group["start"], group["end"], strict=True))
            busy, reach = timedelta(0), None
            for start, end in spans:
                if reach is None or start > reach:
                    busy += end - start
                    reach = end
                elif end > reach:
                    busy += end - reach
                    reach = end
            summed = (group["end"] - group["start"]).sum()
            minutes = summed.total_seconds() / 60, busy.total_seconds() / 60
            rows.append((family, len(group), *minutes))
        table = pd.DataFrame(rows, columns=["family", "jobs", "job_minutes", "busy_minutes"])
        return table.sort_values("busy_minutes", ascending=False, ignore_index=True)


def _stamp(text: str) -> datetime:
    return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")


def parse(text: str) -> Invocation:
    """An invocation from the text of Snakemake's log; ValueError if it ran no job."""
    stamp = None
    started: dict[int, tuple[str, datetime]] = {}
    pending_rule = None
    finished, stamps = [], []
    command, elapsed, planned = "", None, 0
    for line in text.splitlines():
        if m := _STAMP.match(line):
            stamp = _stamp(m[1])
            stamps.append(stamp)
        elif m := _START.match(line):
            pending_rule = (m[1], stamp)
        elif (m := _JOBID.match(line)) and pending_rule is not None:
            started[int(m[1])] = pending_rule
            pending_rule = None
        elif m := _FINISHED.match(line):
            rule, start = started.get(int(m[1]), (m[2], stamp))
            finished.append((int(m[1]), rule, RULE_FAMILY.get(rule, rule), start, stamp))
        elif m := _ELAPSED.match(line):
            days, hours, minutes, seconds = m.groups()
            elapsed = timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes),
                                seconds=float(seconds))  # fmt: skip
        elif m := _COMMAND.match(line):
            command = m[1]
        elif line.startswith("total ") and not planned:
            planned = int(line.split()[-1])
    if not finished:
        raise ValueError("the log records no finished job")
    jobs = pd.DataFrame(finished, columns=["jobid", "rule", "family", "start", "end"])
    from_log = elapsed is not None
    if elapsed is None:
        elapsed = max(stamps) - min(stamps)
    return Invocation(command, min(stamps), elapsed, from_log, planned, jobs)


def runs_made(log_text: str) -> int:
    """How many run directories the invocation whose log this is made (0 if none)."""
    try:
        return parse(log_text).runs_made
    except ValueError:  # no finished job
        return 0


def of_results(results: Path) -> Invocation | None:
    """The invocation whose log a results directory kept (``logs/snakemake.log``), if any."""
    log = Path(results) / "logs" / paths.SNAKEMAKE_LOG
    try:
        return parse(log.read_text()) if log.is_file() else None
    except ValueError:  # a log without a finished job
        return None


def clock(delta: timedelta) -> str:
    """``1:37:53``: whole seconds, cut as Snakemake's own "Elapsed time: 1:37:53.9" reads."""
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def describe(log: Path) -> str | None:
    """The report's paragraph and table on the invocation, or None without a log."""
    log = Path(log)
    if not log.is_file():
        return None
    try:
        invocation = parse(log.read_text())
    except ValueError:
        return None
    how = '"Elapsed time"' if invocation.elapsed_from_log else "first to last timestamp"
    command = invocation.command.rsplit("/", 1)[-1]
    finished = len(invocation.jobs)
    whole = (f"all {finished} jobs it planned" if finished == invocation.planned
             else f"{finished} of the {invocation.planned} jobs it planned")  # fmt: skip
    rows = [[r.family, str(r.jobs), f"{r.job_minutes:.1f}", f"{r.busy_minutes:.1f}"]
            for r in invocation.per_family().itertuples()]  # fmt: skip
    return (
        f"One Snakemake invocation (`{command}`, started {invocation.started:%Y-%m-%d %H:%M}, "
        f"`logs/{log.name}`) ran {whole} in **{clock(invocation.elapsed)}** (Snakemake's {how}). "
        "Where it went, per family: the jobs' summed minutes, and the minutes during which at "
        "least one of them ran (jobs ran side by side, so these add up to more than the "
        "elapsed time):\n\n"
        + markdown_table(["family", "jobs", "job minutes", "minutes running"], rows)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.products.invocation", description=__doc__.split("\n")[0]
    )
    parser.add_argument("log", type=Path, help="Snakemake's log of one invocation")
    args = parser.parse_args(argv)
    if not args.log.is_file():
        print(f"odebench.invocation: error: {args.log} not found", file=sys.stderr)
        return 1
    text = describe(args.log)
    if text is None:
        print(f"odebench.invocation: error: {args.log} records no finished job", file=sys.stderr)
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
