"""The printed table of a cost estimate: one row per arm, then the totals, what was not
costed, the studies' notes, what is excluded and the caveat, folded to the table's width.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def _num(value: float | None) -> str:
    """Seconds in a narrow column: 3 significant digits below 100, whole seconds above."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def _hours(value: float | None) -> str:
    """Hours: 2 decimals from 0.1 h up, 3 significant digits below."""
    if value is None:
        return "-"
    return f"{value:.2f}" if value >= 0.1 or value == 0 else f"{value:.3g}"


#: Columns of the table: (title, width, cell of an arm record).
COLUMNS: tuple[tuple[str, int, Callable[[Mapping[str, Any]], str]], ...] = (
    ("family", -14, lambda a: a["family"]),
    ("arm", -28, lambda a: a["arm"][:28]),
    ("on", -5, lambda a: f"{a['device']}{a['threads']}"),
    ("runs", 4, lambda a: str(a["runs"])),
    ("steps/run", 9, lambda a: "-" if a["steps_per_run"] is None else f"{a['steps_per_run']:,}"),
    ("s/step", 8, lambda a: _num(a["seconds_per_step"])),
    ("NFE/rec.", 9, lambda a: _nfe(a["nfe_per_step"], a["recorded_nfe_per_step"])),
    ("eval s", 8, lambda a: _num(a["eval_seconds_per_run"])),
    ("s/run", 8, lambda a: _num(a["seconds_per_run"])),
    ("h", 8, lambda a: _hours(a["hours"])),
    ("rec. h", 9, lambda a: _hours(a["recorded_hours"])
     + ("*" if 0 < a["recorded_runs"] < a["runs"] else "")),
)  # fmt: skip


def _nfe(value: float | None, recorded: float | None) -> str:
    """NFE per step at initialization, and as recorded late in training where known."""
    if not value and not recorded:
        return "-"
    return f"{value or 0:.0f}" + ("" if recorded is None else f"/{recorded:.0f}")


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{100 * value:.0f}%"


def _row(cells: Sequence[str]) -> str:
    """One line of the table: left-aligned text columns, right-aligned numbers, one space apart."""
    return " ".join(f"{cell:<{-w}}" if w < 0 else f"{cell:>{w}}"
                    for cell, (_, w, _) in zip(cells, COLUMNS, strict=True))  # fmt: skip


def report(result: Mapping[str, Any]) -> str:
    """The one-screen text of a :func:`cost` result."""
    total = result["totals"]
    busy = result["other_cpu_use"]
    known = [share for share in busy if share is not None]
    steps = result["steps"]
    lines = [
        f"The price of budget {result['budget']!r} ({result['configfile']}), {result['date_utc']}",
        f"device {result['device']}: {result['device_name']}; torch {result['torch']}; "
        f"{os.cpu_count()} CPUs, of which busy with other work just before timing "
        f"{_share(busy[0])}, just after {_share(busy[1])}"
        + (" (a busy machine inflates these timings)" if max(known, default=0) > 0.2 else ""),
        f"an arm: jobs with the same cost per step, timed once: median of {steps} training "
        f"step{'s' * (steps > 1)} after 1 warm-up (s/step) x steps per run, + evaluation "
        f"passes (eval s) + {result['startup_seconds']:.1f} s process start-up = s/run; "
        f"on: device and threads (the rule's: {result['threads']} for MNIST and probes, "
        "1 for the rest)",
        "",
    ]  # fmt: skip
    header = _row([title for title, _, _ in COLUMNS])
    lines += [header, "-" * len(header)]
    lines += [_row([cell(arm) for _, _, cell in COLUMNS]) for arm in result["arms"]]
    lines.append("-" * len(header))
    by_device = ", ".join(f"{_hours(hours)} {device.upper()}-hours"
                          for device, hours in total["device_hours"].items())  # fmt: skip
    lines.append(f"one after another: {_hours(total['sequential_hours'])} h over "
                 f"{total['jobs']} jobs (device-hours: {by_device or '0'})")  # fmt: skip
    if total["gpu_estimate_hours"] is not None:
        lines.append(f"GPU estimate: {_hours(total['gpu_estimate_hours'])} h, the GPU jobs one "
                     "after another (packing jobs onto one GPU is not modeled)")  # fmt: skip
        scope = "the jobs that run on the CPU"
    else:
        scope = "every job"
    lines.append(f"packed on {total['packed_cores']} cores: {_hours(total['packed_hours'])} h for "
                 f"{scope} (longest job {_hours(total['longest_job_hours'])} h; longest first, "
                 "each job at its measured speed)")  # fmt: skip
    for item in result["not_costed"]:
        lines.append(f"NOT COSTED: {item['family']} {item['arm']}: {item['reason']}")
    studies = [arm for arm in result["arms"] if arm["steps_per_run"] is None and arm["note"]]
    if studies:
        lines.append("studies, from reduced measurements:")
        lines += [f"  {arm['family']}: {arm['note']}" for arm in studies]
    lines.append("excluded: " + "; ".join(result["excluded"]))
    lines.append(
        "caveat: steps of freshly initialized models; an adaptive solver's NFE changes over "
        "training, so ODE arms cost more (or less) per step later on. NFE/rec.: function "
        "evaluations per step here / late in the recorded runs; rec. h: their wall_seconds "
        f"(results/{result['budget']}/runs, else reference/{result['budget']}/runs; "
        "* = some runs)"
    )
    return "\n".join(_wrap(line, len(header)) for line in lines)


def _wrap(line: str, width: int) -> str:
    """``line`` folded to ``width`` (continuation lines indented); table rows fit already."""
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return "\n".join(textwrap.wrap(line, width, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False))  # fmt: skip
