"""The solver studies beyond Figure 3: activation memory against depth and the
work-precision diagram.

They draw from the solver-study tables of :mod:`odebench.products.tables.solver_studies`
and share Figure 3's pieces (:mod:`~odebench.products.figures.solver_studies`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from odebench.products import registry
from odebench.products.figures.solver_studies import (
    MIB,
    _legend_outside,
    _log_errorbar,
    _log_limits,
    _open_bar_handle,
    _solver_order,
    _tol_label,
    _with_backend,
)
from odebench.products.figures.style import (
    PAPER,
    _failed_text,
    _pyplot,
    _seeds_text,
    _std,
    palette,
)
from odebench.products.tables.solver_studies import JOINT_BACKENDS

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


def memory_scaling(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt = _pyplot()
    table = t[registry.MEMORY_SCALING.name]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    labels = {"adjoint": r"ODE block, adjoint: $O(1)$",
              "direct": r"ODE block, direct backprop: $O(\tilde{L})$",
              "resnet": r"ResNet blocks: $O(L)$"}  # fmt: skip
    for method, group in table.groupby("method", sort=False):
        group = group.sort_values("depth")
        label = labels.get(method, method)
        axes[0].plot(group["depth"], group["activation_bytes"] / MIB, marker="o", label=label)
        axes[1].plot(group["depth"], group["peak_rss_bytes"] / MIB, marker="o", label=label)
    depths = sorted(table["depth"].dropna().unique())
    for ax in axes:
        ax.set_xticks(depths)
        ax.set_xlabel("depth: rk4 steps (NFE = 4 × steps) or residual blocks L")
    # Linear axes, the activation panel from zero: growth linear in depth reads as a
    # straight line and constant memory as a flat one (a log axis bends both).
    axes[0].set(ylabel="activation memory (MiB saved for backward)", ylim=(0, None),
                title="bytes saved for backward, one training step (block + head)")  # fmt: skip
    axes[1].set(ylabel="peak RSS of the process (MiB)",
                title="peak RSS, one fresh process per point")  # fmt: skip
    for ax in axes:
        ax.set_xlim(left=0)
        ax.title.set_fontsize(8)
    fig.suptitle(f"Activation memory vs depth: not in the paper (Table 1's memory column of "
                 f"{PAPER}, measured once per point; linear axes)", fontsize=9)  # fmt: skip
    _legend_outside(axes[1], title="Table 1's memory column")
    return fig


def _backend_styles(backends) -> dict[str, tuple[str, bool, str]]:
    """Backend -> (marker, filled, line style): filled and solid for torchdiffeq's joint
    step-size control, hollow and dashed for per-sample control (torchode); one shape per
    backend."""
    shapes = ["o", "^", "s", "D", "v"]
    return {
        backend: (shapes[i % len(shapes)], backend in JOINT_BACKENDS,
                  "-" if backend in JOINT_BACKENDS else "--")
        for i, backend in enumerate(sorted(set(backends)))
    }  # fmt: skip


def _backend_label(backend: str) -> str:
    if backend in JOINT_BACKENDS:
        return f"{backend}: one step size for the whole batch"
    return f"{backend}: a step size per sample"


def _no_bars_text(std) -> str:
    """Why the test-error panel has no bars, with the std it leaves out."""
    std = _std(std)
    std = std[std > 0]
    if std.size == 0:
        return "no bars: no std over seeds"
    low, high = std.min(), std.max()
    spread = f"{low:.2g}" if np.isclose(low, high) else f"{low:.2g}–{high:.2g}"
    return f"no bars: std over seeds {spread}\npercentage points (in the table)"


def work_precision(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """A row of three panels per training tolerance, so that a panel holds one network's
    solvers (one line per solver and backend) rather than every network's."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    table = _with_backend(t[registry.WORK_PRECISION.name])
    tols = sorted(table["train_tol"].unique()) or [np.nan]
    fig, axes = plt.subplots(len(tols), 3, figsize=(17, 0.6 + 3.9 * len(tols)),
                             layout="constrained", sharex="col", sharey="col",
                             squeeze=False)  # fmt: skip
    order = _solver_order(table["solver"])
    colors = dict(zip(order, palette(len(order)), strict=True))
    styles = _backend_styles(table["backend"])
    # Limits over every row (the columns share them), so open bars end at the axes' edge.
    seconds = _log_limits(table["seconds"], table["seconds_std"])
    nfe = _log_limits(table["nfe_forward"], table["nfe_forward_std"])
    error = _log_limits(table["error"], table["error_std"])
    edges = [(lim[0] if lim is not None else None) for lim in (seconds, nfe, error)]
    for column, (x, y) in enumerate(((seconds, error), (nfe, error), (nfe, None))):
        for lim, setter in ((x, axes[0, column].set_xlim), (y, axes[0, column].set_ylim)):
            if lim is not None:
                setter(*lim)
    opened = False
    for (tol, solver, backend), group in table.groupby(["train_tol", "solver", "backend"]):
        row = axes[tols.index(tol)]
        group = group.sort_values("nfe_forward")
        marker, filled, linestyle = styles[backend]
        line = {"color": colors[solver], "linestyle": linestyle, "marker": marker,
                "markersize": 3 if filled else 4.5, "linewidth": 1.1,
                "markerfacecolor": colors[solver] if filled else "white"}  # fmt: skip
        kw = line | {"capsize": 1.5, "elinewidth": 0.7}
        # Faint bars: they say how far the seeds spread without hiding the lines.
        for ax, xcol, left in ((row[0], "seconds", edges[0]), (row[1], "nfe_forward", edges[1])):
            bars = _log_errorbar(ax, group[xcol], group["error"], group[f"{xcol}_std"],
                                 group["error_std"], (left, edges[2]), open_alpha=0.5,
                                 **kw)  # fmt: skip
            for artist in (*bars.lines[1], *bars.lines[2]):  # caps and bars
                artist.set_alpha(0.35)
        opened |= bool((_std(group["error_std"]) >= group["error"].to_numpy(float)).any())
        # The test error's std over seeds is the spread between the seeds' networks, about
        # as wide for every solver and wider than most gaps between solvers on one network:
        # bars here hide the lines, so the panel states the std's range instead.
        row[2].plot(group["nfe_forward"], group["test_error_pct"], **line)
    for row, tol in zip(axes, tols, strict=True):
        trained = f"{_tol_label(tol)}: " if np.isfinite(tol) else ""
        rows = table[table["train_tol"] == tol]
        row[0].set(ylabel="relative error of the block output", xscale="log", yscale="log",
                   title=f"{trained}error vs time")  # fmt: skip
        row[1].set(xscale="log", yscale="log", title=f"{trained}error vs NFE")
        row[2].set(ylabel="test error (%) on the probe images", xscale="log",
                   title=f"{trained}test error vs NFE")  # fmt: skip
        row[2].text(0.98, 0.97, _no_bars_text(rows["test_error_pct_std"]), fontsize=6.5,
                    transform=row[2].transAxes, color="0.35", ha="right", va="top")  # fmt: skip
        for ax in row:
            ax.title.set_fontsize(8)
    axes[-1, 0].set_xlabel("forward solve time of the block (s)")
    axes[-1, 1].set_xlabel("forward NFE")
    axes[-1, 2].set_xlabel("forward NFE")
    handles = [Line2D([], [], color=colors[s], marker="o", markersize=3, label=s) for s in colors]
    handles += [Line2D([], [], color="0.3", linestyle=linestyle, marker=marker,
                       markersize=3 if filled else 4.5,
                       markerfacecolor="0.3" if filled else "white",
                       label=_backend_label(backend))
                for backend, (marker, filled, linestyle) in styles.items()]  # fmt: skip
    handles += [_open_bar_handle()] if opened else []
    _legend_outside(axes[0, 2], handles, title=f"solver (colour), backend (marker, line)\n"
                    f"{_seeds_text(table['n_seeds'])}"
                    f"{_failed_text(table, 'solves')}")  # fmt: skip
    fig.suptitle("Work-precision diagram of the trained ODE-Nets' block: not in the paper "
                 f"(every test-time solver, extending {PAPER}'s trade of precision for speed)",
                 fontsize=9)  # fmt: skip
    return fig
