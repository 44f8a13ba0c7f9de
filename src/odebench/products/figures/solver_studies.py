"""Figure 3 (a-d) and the solver studies: memory scaling and the work-precision diagram.

They draw from the solver-study tables of :mod:`odebench.products.tables.solver_studies`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from odebench.products import registry
from odebench.products.figures.style import (
    PAPER,
    _failed_text,
    _pyplot,
    _seeds_text,
    _std,
)
from odebench.products.tables.solver_studies import (
    JOINT_BACKENDS,
    UNRECORDED_BACKEND,
    joint_control,
)

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

MIB = 2**20
#: dopri5's step counts whose NFE the solver-study figures mark: at loose tolerances the
#: trained ODE-Nets take 2 or 3 steps, so their NFE sits on these floors.
FLOOR_STEPS = (2, 3)
FLOOR_COLOR = "#8e5ea2"  # apart from the grid's grey and the data's palette


def dopri5_nfe(steps: int) -> int:
    """Evaluations dopri5 spends on ``steps`` steps: 2 to pick the first step size, then
    6 per step (7 stages, the last reused by the next step). A rejected step costs 6 too."""
    return 2 + 6 * steps


# -- pieces the solver-study figures share -------------------------------------------------


def _tol_label(tol: float) -> str:
    return f"trained at tol {tol:g}"


def _palette(values) -> dict:
    plt, sns = _pyplot()
    values = sorted(set(values))
    return dict(zip(values, sns.color_palette("colorblind", len(values)), strict=True))


def _log_err(mean, std) -> np.ndarray:
    """Asymmetric error bars for a log axis: the lower bar stops short of zero."""
    mean, std = np.asarray(mean, dtype=float), _std(std)
    return np.vstack([np.minimum(std, 0.95 * np.abs(mean)), std])


def _legend_outside(ax, handles=None, **kwargs) -> None:
    """The axes' legend to the right of it, where it covers no data."""
    kwargs = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0,
              "fontsize": 7, "title_fontsize": 7, "alignment": "left"} | kwargs  # fmt: skip
    if handles is None:
        ax.legend(**kwargs)
    else:
        ax.legend(handles=handles, **kwargs)


def _floor_lines(ax, axis: str, label_at: float) -> None:
    """dopri5's NFE floors as reference lines on ``axis`` ('x' or 'y'), labelled.

    ``label_at`` is where along the other axis the labels sit, in axes fraction.
    """
    for steps in FLOOR_STEPS:
        nfe = dopri5_nfe(steps)
        text = f"{steps} dopri5 steps = {nfe} NFE"
        style = {"color": FLOOR_COLOR, "linestyle": "-.", "linewidth": 1.0, "zorder": 1}
        label = {"fontsize": 6, "color": FLOOR_COLOR, "textcoords": "offset points"}
        if axis == "x":
            ax.axvline(nfe, **style)
            ax.annotate(text, (nfe, label_at), xytext=(-2, 0), rotation=90, va="top",
                        ha="right", xycoords=ax.get_xaxis_transform(), **label)  # fmt: skip
        else:
            ax.axhline(nfe, **style)
            ax.annotate(text, (label_at, nfe), xytext=(0, 2), va="bottom",
                        ha="left" if label_at < 0.5 else "right",
                        xycoords=ax.get_yaxis_transform(), **label)  # fmt: skip


def _floor_handle():
    from matplotlib.lines import Line2D

    return Line2D([], [], color=FLOOR_COLOR, linestyle="-.", linewidth=1.0,
                  label="dopri5's only NFE values: 2 + 6·k for k steps")  # fmt: skip


def _steps_axis(ax) -> None:
    """A top axis counting dopri5's steps k = (NFE − 2) / 6."""
    secondary = ax.secondary_xaxis("top", functions=(lambda n: (n - 2) / 6, lambda k: 2 + 6 * k))
    secondary.set_xlabel("dopri5 steps k (NFE = 2 + 6·k)", fontsize=7)
    secondary.tick_params(labelsize=7)


# -- Figure 3 and the solver studies -------------------------------------------------------


def _joint_dopri5(table: pd.DataFrame) -> pd.DataFrame:
    """dopri5's rows of the sweep with torchdiffeq's joint step-size control (Figure 3's
    setting), ``backend`` filled in for a table without the column."""
    table = joint_control(table[table["solver"] == "dopri5"])
    return table if "backend" in table else table.assign(backend=UNRECORDED_BACKEND)


def _line_label(tol: float, backend: str, backends) -> str:
    """The training tolerance's label, and the backend where the figure draws several."""
    return _tol_label(tol) + (f" ({backend})" if len(set(backends)) > 1 else "")


def fig3a_nfe_vs_error(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    table = _joint_dopri5(t[registry.WORK_PRECISION.name])
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    colors = _palette(table["train_tol"])
    for (tol, backend), group in table.groupby(["train_tol", "backend"]):
        # In sweep order, loose to tight: two tolerances can share an NFE.
        group = group.sort_values("tol_or_steps", ascending=False)
        ax.errorbar(group["nfe_forward"], group["error"], xerr=_std(group["nfe_forward_std"]),
                    yerr=_log_err(group["error"], group["error_std"]), color=colors[tol],
                    marker="o", markersize=4, capsize=2,
                    label=_line_label(tol, backend, table["backend"]))  # fmt: skip
    ax.set(xlabel="forward NFE (dopri5, test-time tolerance swept)",
           ylabel="relative error of the ODE block's output", yscale="log")  # fmt: skip
    _steps_axis(ax)
    ax.set_title(f"Fig. 3a of {PAPER}: forward NFE vs numerical error", fontsize=9)
    _legend_outside(ax, title=f"{_seeds_text(table['n_seeds'])}\n(bars: NFE and error)"
                    f"{_failed_text(table, 'solves')}")  # fmt: skip
    return fig


def fig3b_time_vs_nfe(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    table = _joint_dopri5(t[registry.WORK_PRECISION.name])
    fits = _joint_dopri5(t[registry.TIME_VS_NFE.name]).set_index(["train_tol", "backend"])
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    colors = _palette(table["train_tol"])
    for (tol, backend), group in table.groupby(["train_tol", "backend"]):
        label = _line_label(tol, backend, table["backend"])
        ax.errorbar(group["nfe_forward"], group["seconds"], xerr=_std(group["nfe_forward_std"]),
                    yerr=_std(group["seconds_std"]), fmt="o", color=colors[tol], capsize=2,
                    markersize=4, label=f"{label}: measured")  # fmt: skip
        fit = fits.loc[(tol, backend)] if (tol, backend) in fits.index else None
        if fit is None or not np.isfinite(fit["seconds_per_nfe"]):
            continue  # one NFE value: no line to fit
        x = np.linspace(0, group["nfe_forward"].max() * 1.05, 50)
        ax.plot(x, fit["seconds_per_nfe"] * x + fit["intercept_seconds"], color=colors[tol],
                linewidth=1, label=f"{label}: fit, {1e3 * fit['seconds_per_nfe']:.1f} "
                f"ms/NFE, R² = {fit['r2']:.3f}")  # fmt: skip
    ax.set(xlabel="forward NFE (dopri5)", ylabel="forward solve time of the block (s)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_title(f"Fig. 3b of {PAPER}: solve time vs forward NFE", fontsize=9)
    _legend_outside(ax, title=f"points: {_seeds_text(table['n_seeds'])}\nlines: least squares "
                    f"over every seed's solves{_failed_text(table, 'solves')}")  # fmt: skip
    return fig


def fig3c_nfe_backward_vs_forward(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    table = t[registry.NFE_BACKWARD_VS_FORWARD.name]
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    colors = _palette(table["train_tol"])
    top = np.nanmax([table["nfe_forward"].max(), table["nfe_backward"].max(), 24.0]) * 1.12
    _floor_lines(ax, "x", 0.98)
    _floor_lines(ax, "y", 0.01)  # left of the data: NFE never falls that low
    line = np.array([0, top])
    ax.plot(line, line, color="grey", linestyle=":", linewidth=1)
    ax.plot(line, line / 2, color="black", linestyle="--", linewidth=1.2)

    def points(rows, color, marker, size_max, filled, edge, zorder):
        """One marker per forward NFE: mean backward NFE ± its std, area ~ count."""
        area = 12 + size_max * np.sqrt(rows["count"] / max(rows["count"].max(), 1))
        ax.errorbar(rows["nfe_forward"], rows["nfe_backward"], yerr=_std(rows["nfe_backward_std"]),
                    fmt="none", ecolor=color, elinewidth=0.8, capsize=2,
                    zorder=zorder)  # fmt: skip
        face = color if filled else "white"
        ax.scatter(rows["nfe_forward"], rows["nfe_backward"], s=area, marker=marker,
                   facecolor=face, edgecolor=edge or color, linewidth=1.4,
                   alpha=0.55 if filled and edge is None else 1.0, zorder=zorder)  # fmt: skip

    arms = [  # (source, solver, adjoint) -> marker, largest area, filled, edge, legend
        (("training", "dopri5", "full"), "o", 260, True, None,
         "training steps: batch, dopri5, full adjoint (area ∝ steps)"),
        (("probe", "dopri5", "full"), "s", 120, False, None,
         "one image, final weights: dopri5, full adjoint (area ∝ images)"),
        (("probe", "dopri5+seminorm", "full"), "v", 120, False, None,
         "one image, final weights: dopri5, full adjoint, seminorm (area ∝ images)"),
        (("probe", "dopri5", "state"), "^", 40, True, "black",
         "one image, final weights: dopri5, state adjoint"),
        (("probe", "lsoda", "state"), "D", 120, False, None,
         "one image, final weights: scipy LSODA, state adjoint (area ∝ images)"),
    ]  # fmt: skip
    handles = []
    for (source, solver, adjoint), marker, size_max, filled, edge, label in arms:
        rows = table[(table["source"] == source) & (table["solver"] == solver)
                     & (table["adjoint"] == adjoint)]  # fmt: skip
        if rows.empty:
            continue
        for tol, group in rows.groupby("train_tol"):
            zorder = 3 if source == "probe" else 2
            points(group, colors[tol], marker, size_max, filled, edge, zorder)
        handles.append(Line2D([], [], linestyle="", marker=marker, markersize=7, label=label,
                              markerfacecolor="0.5" if filled else "white",
                              markeredgecolor=edge or "0.3", markeredgewidth=1.4))  # fmt: skip
    handles += [Patch(color=colors[tol], label=_tol_label(tol)) for tol in colors]
    handles += [
        Line2D([], [], color="black", linestyle="--", label="paper's claim (Fig. 3c): "
               "backward ≈ ½ forward"),
        Line2D([], [], color="grey", linestyle=":", label="backward = forward"),
        _floor_handle(),
    ]  # fmt: skip
    ax.set(xlabel="forward NFE", ylabel="backward NFE (adjoint solve)", xlim=(0, top),
           ylim=(0, top))  # fmt: skip
    ax.set_aspect("equal")
    ax.set_title(f"Fig. 3c of {PAPER}: backward vs forward NFE", fontsize=9)
    _legend_outside(ax, handles, title="markers: mean ± std of backward NFE over the steps\n"
                    "or images at each forward NFE")  # fmt: skip
    return fig


def fig3d_nfe_over_training(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    table = t[registry.NFE_OVER_TRAINING.name]
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    colors = _palette(table["train_tol"])
    for tol, group in table.groupby("train_tol"):
        group = group.sort_values("epoch_position")
        x = group["epoch_position"].to_numpy(float)
        for column, style in (("nfe_forward", "-"), ("nfe_backward", "--")):
            if column not in group:
                continue
            mean, std = group[column].to_numpy(float), _std(group[f"{column}_std"])
            ax.plot(x, mean, color=colors[tol], linestyle=style, marker=".", markersize=4)
            ax.fill_between(x, mean - std, mean + std, color=colors[tol], alpha=0.2,
                            linewidth=0)  # fmt: skip
    _floor_lines(ax, "y", 0.99)
    top = np.nanmax([table["nfe_forward"].max(), table.get("nfe_backward", pd.Series()).max(),
                     dopri5_nfe(FLOOR_STEPS[-1])])  # fmt: skip
    ax.set(xlabel="training epoch", ylabel="NFE per training batch", ylim=(0, top * 1.25))
    if len(table):
        ax.set_xlim(0, np.ceil(table["epoch_position"].max()))
    ax.set_title(f"Fig. 3d of {PAPER}: NFE over training", fontsize=9)
    handles = [Patch(color=colors[tol], label=_tol_label(tol)) for tol in colors]
    handles += [Line2D([], [], color="0.3", label="forward NFE"),
                Line2D([], [], color="0.3", linestyle="--", label="backward NFE (adjoint)"),
                _floor_handle()]  # fmt: skip
    _legend_outside(ax, handles, title=f"bands: {_seeds_text(table['n_seeds'])}")
    return fig


def memory_scaling(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
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
    axes[0].set(ylabel="activation memory (MiB saved for backward)", yscale="log",
                title="bytes saved for backward, one training step (block + head)")  # fmt: skip
    axes[1].set(ylabel="peak RSS of the process (MiB)",
                title="peak RSS, one fresh process per point")  # fmt: skip
    for ax in axes:
        ax.title.set_fontsize(8)
    fig.suptitle(f"Activation memory vs depth: not in the paper (Table 1's memory column of "
                 f"{PAPER}, measured once per point)", fontsize=9)  # fmt: skip
    _legend_outside(axes[1], title="Table 1's memory column")
    return fig


def _backend_markers(backends) -> dict[str, tuple[str, bool]]:
    """Backend -> (marker, filled): filled for torchdiffeq's joint step-size control, hollow
    for per-sample control (torchode); one shape per backend."""
    shapes = ["o", "^", "s", "D", "v"]
    return {
        backend: (shapes[i % len(shapes)], backend in JOINT_BACKENDS)
        for i, backend in enumerate(sorted(set(backends)))
    }


def _backend_label(backend: str) -> str:
    if backend in JOINT_BACKENDS:
        return f"{backend}: one step size for the whole batch"
    return f"{backend}: a step size per sample"


def work_precision(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    from matplotlib.lines import Line2D

    table = t[registry.WORK_PRECISION.name]
    if "backend" not in table:
        table = table.assign(backend=UNRECORDED_BACKEND)
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8), layout="constrained")
    colors = _palette(table["solver"])
    tols = sorted(table["train_tol"].unique())
    styles = dict(zip(tols, ["-", "--", ":", "-."], strict=False))
    markers = _backend_markers(table["backend"])
    for (solver, tol, backend), group in table.groupby(["solver", "train_tol", "backend"]):
        group = group.sort_values("nfe_forward")
        marker, filled = markers[backend]
        kw = {"color": colors[solver], "linestyle": styles.get(tol, "-"), "marker": marker,
              "markersize": 3 if filled else 4.5, "capsize": 1.5, "elinewidth": 0.7,
              "markerfacecolor": colors[solver] if filled else "white"}  # fmt: skip
        nfe_err = _log_err(group["nfe_forward"], group["nfe_forward_std"])
        error_err = _log_err(group["error"], group["error_std"])
        time_err = _log_err(group["seconds"], group["seconds_std"])
        axes[0].errorbar(group["seconds"], group["error"], xerr=time_err, yerr=error_err, **kw)
        axes[1].errorbar(group["nfe_forward"], group["error"], xerr=nfe_err, yerr=error_err, **kw)
        # Seeds differ by about a percent on the probe images, more than solvers do:
        # faint bars keep the lines readable.
        # An error rate is never negative: the lower bar stops at zero.
        test_std = _std(group["test_error_pct_std"])
        test_err = np.vstack([np.minimum(test_std, group["test_error_pct"]), test_std])
        bars = axes[2].errorbar(group["nfe_forward"], group["test_error_pct"], xerr=nfe_err,
                                yerr=test_err, **kw)  # fmt: skip
        for artist in (*bars.lines[1], *bars.lines[2]):  # caps and bars
            artist.set_alpha(0.3)
    axes[0].set(xlabel="forward solve time of the block (s)",
                ylabel="relative error of the block output", xscale="log", yscale="log",
                title="error vs time")  # fmt: skip
    axes[1].set(xlabel="forward NFE", ylabel="relative error of the block output",
                xscale="log", yscale="log", title="error vs NFE")  # fmt: skip
    axes[2].set(xlabel="forward NFE", ylabel="test error (%) on the probe images",
                xscale="log", title="test error vs NFE")  # fmt: skip
    handles = [Line2D([], [], color=colors[s], marker="o", markersize=3, label=s) for s in colors]
    handles += [Line2D([], [], color="0.3", linestyle=styles.get(tol, "-"),
                       label=_tol_label(tol)) for tol in tols]  # fmt: skip
    handles += [Line2D([], [], color="0.3", linestyle="", marker=marker,
                       markersize=3 if filled else 4.5,
                       markerfacecolor="0.3" if filled else "white",
                       label=_backend_label(backend))
                for backend, (marker, filled) in markers.items()]  # fmt: skip
    _legend_outside(axes[2], handles, title=f"solver (colour), ODE-Net (line), backend "
                    f"(marker)\n{_seeds_text(table['n_seeds'])}"
                    f"{_failed_text(table, 'solves')}")  # fmt: skip
    fig.suptitle("Work-precision diagram of the trained ODE-Nets' block: not in the paper "
                 f"(every test-time solver, extending {PAPER}'s trade of precision for speed)",
                 fontsize=9)  # fmt: skip
    return fig
