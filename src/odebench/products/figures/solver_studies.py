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
    palette,
)
from odebench.products.tables.solver_studies import (
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
    values = sorted(set(values))
    return dict(zip(values, palette(len(values)), strict=True))


def _test_tol_text(tol: float) -> str:
    """A test-time tolerance as a point's label: 10⁻³ rather than 0.001."""
    exponent = np.log10(tol)
    return f"$10^{{{exponent:.0f}}}$" if np.isclose(exponent, round(exponent)) else f"{tol:g}"


def _log_limits(mean, std) -> tuple[float, float] | None:
    """Limits of a log axis that hold every mean + std, and every mean − std that is
    positive, with a margin; None where nothing is positive."""
    mean, std = np.asarray(mean, dtype=float), _std(std)
    low = np.where(mean - std > 0, mean - std, mean)
    low, high = low[np.isfinite(low) & (low > 0)], (mean + std)[np.isfinite(mean) & (mean > 0)]
    if low.size == 0:
        return None
    return float(low.min()) / 2, float(high.max()) * 1.5


def _log_errorbar(ax, x, y, xstd, ystd, edges, open_alpha=1.0, **kwargs):
    """mean ± std on log axes, honestly: where mean − std ≤ 0 the bar has no lower end on
    a log axis, so it runs dotted to the axes' edge and ends in a caret there, instead of
    stopping at a made-up value above zero.

    Arguments:
        x, y: the means; xstd, ystd: their stds (empty: no bar).
        edges: (left, bottom) the axes' lower limits, or None for an axis that is linear
            (its bars are mean ± std as they are).
        open_alpha: the dotted bars' alpha.
        kwargs: for :meth:`~matplotlib.axes.Axes.errorbar`; its ``color`` colours the
            dotted bars and carets.

    Returns:
        the errorbar container.
    """
    from matplotlib.markers import CARETDOWNBASE, CARETLEFTBASE

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    bars, opened = [], []
    for mean, std, edge in ((x, _std(xstd), edges[0]), (y, _std(ystd), edges[1])):
        is_open = (std >= mean) & (std > 0) if edge is not None else np.zeros(len(mean), bool)
        bars.append(np.vstack([np.where(is_open, 0.0, std), std]))
        opened.append(is_open)
    container = ax.errorbar(x, y, xerr=bars[0], yerr=bars[1], **kwargs)
    color = kwargs.get("color", "0.3")
    style = {"colors": [color], "linestyles": ":", "linewidth": 0.9, "alpha": open_alpha}
    caret = {"color": color, "linestyle": "", "markersize": 5, "clip_on": False,
             "alpha": open_alpha, "zorder": kwargs.get("zorder", 2)}  # fmt: skip
    if opened[0].any():
        left = edges[0]
        ax.hlines(y[opened[0]], left, x[opened[0]], **style)
        ax.plot(np.full(opened[0].sum(), left), y[opened[0]], marker=CARETLEFTBASE, **caret)
    if opened[1].any():
        bottom = edges[1]
        ax.vlines(x[opened[1]], bottom, y[opened[1]], **style)
        ax.plot(x[opened[1]], np.full(opened[1].sum(), bottom), marker=CARETDOWNBASE, **caret)
    return container


def _open_bar_handle():
    from matplotlib.lines import Line2D
    from matplotlib.markers import CARETDOWNBASE

    return Line2D([], [], color="0.3", linestyle=":", marker=CARETDOWNBASE, markersize=4,
                  label="dotted to the axis edge: std ≥ mean\n"
                  "(mean − std ≤ 0 lies off a log axis)")  # fmt: skip


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
    plt = _pyplot()
    table = _joint_dopri5(t[registry.WORK_PRECISION.name])
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    colors = _palette(table["train_tol"])
    limits = _log_limits(table["error"], table["error_std"])
    if limits is not None:
        ax.set_ylim(*limits)
    bottom = limits[0] if limits is not None else None
    opened = False
    for i, ((tol, backend), group) in enumerate(table.groupby(["train_tol", "backend"])):
        # In sweep order, loose to tight: two tolerances can share an NFE.
        group = group.sort_values("tol_or_steps", ascending=False)
        _log_errorbar(ax, group["nfe_forward"], group["error"], group["nfe_forward_std"],
                      group["error_std"], (None, bottom), color=colors[tol], marker="o",
                      markersize=4, capsize=2,
                      label=_line_label(tol, backend, table["backend"]))  # fmt: skip
        opened |= bool((_std(group["error_std"]) >= group["error"].to_numpy(float)).any())
        # Lines alternate sides so that labels of lines which meet do not overprint.
        side = (-5, -3, "right", "top") if i % 2 == 0 else (5, 3, "left", "bottom")
        for nfe, error, test_tol in zip(group["nfe_forward"], group["error"],
                                        group["tol_or_steps"], strict=True):  # fmt: skip
            ax.annotate(_test_tol_text(test_tol), (nfe, error), xytext=side[:2], ha=side[2],
                        va=side[3], textcoords="offset points", fontsize=6.5,
                        color=colors[tol])  # fmt: skip
    ax.set(xlabel="forward NFE (dopri5, test-time tolerance swept)",
           ylabel="relative error of the ODE block's output", yscale="log")  # fmt: skip
    _steps_axis(ax)
    ax.set_title(f"Fig. 3a of {PAPER}: forward NFE vs numerical error", fontsize=9)
    handles, _ = ax.get_legend_handles_labels()
    handles += [_open_bar_handle()] if opened else []
    _legend_outside(ax, handles, title=f"{_seeds_text(table['n_seeds'])}\n(bars: NFE and error;"
                    f"\nlabels: test-time tolerance, rtol = atol)"
                    f"{_failed_text(table, 'solves')}")  # fmt: skip
    return fig


#: The solvers' order in Figure 3b's panels and the work-precision diagram's colours: the
#: paper's dopri5, the other adaptive solvers, then the fixed grids.
SOLVER_ORDER = ("dopri5", "bosh3", "adaptive_heun", "rk4", "midpoint", "euler")


def _solver_order(solvers) -> list[str]:
    solvers = set(solvers)
    return [s for s in SOLVER_ORDER if s in solvers] + sorted(solvers - set(SOLVER_ORDER))


def _with_backend(table: pd.DataFrame) -> pd.DataFrame:
    return table if "backend" in table else table.assign(backend=UNRECORDED_BACKEND)


def _fit_text(fit) -> str:
    """A fitted line as the claim reads it: slope, R², intercept against the largest time."""
    text = f"{1e3 * fit['seconds_per_nfe']:.1f} ms/NFE, R² {fit['r2']:.3f}"
    top = fit["seconds_per_nfe"] * fit.get("nfe_max", np.nan) + fit["intercept_seconds"]
    if np.isfinite(top) and top > 0:
        share = round(fit["intercept_seconds"] / top, 2) + 0.0  # + 0.0: no "-0%"
        text += f", intercept {share:+.0%}"
    return text


def fig3b_time_vs_nfe(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """One panel per solver: every line the claim ``time_proportional_to_nfe`` is judged on
    (each solver and training tolerance with joint step-size control)."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    table = joint_control(_with_backend(t[registry.WORK_PRECISION.name]))
    fits = joint_control(_with_backend(t[registry.TIME_VS_NFE.name]))
    # joint_control keeps one backend per training tolerance: (tol, solver) is a line.
    fits = fits.drop_duplicates(["train_tol", "solver"]).set_index(["train_tol", "solver"])
    solvers = _solver_order(table["solver"]) or ["dopri5"]
    ncols = min(3, len(solvers))
    nrows = -(-len(solvers) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols + 2.6, 2.9 * nrows + 0.5),
                             layout="constrained", squeeze=False)  # fmt: skip
    colors = _palette(table["train_tol"])
    for ax, solver in zip(axes.flat, solvers, strict=False):
        rows = table[table["solver"] == solver]
        notes = []
        for tol, group in rows.groupby("train_tol"):
            ax.errorbar(group["nfe_forward"], group["seconds"],
                        xerr=_std(group["nfe_forward_std"]), yerr=_std(group["seconds_std"]),
                        fmt="o", color=colors[tol], capsize=1.5, markersize=3.5,
                        elinewidth=0.8)  # fmt: skip
            fit = fits.loc[(tol, solver)] if (tol, solver) in fits.index else None
            if fit is None or not np.isfinite(fit["seconds_per_nfe"]):
                notes.append((colors[tol], f"tol {tol:g}: one NFE value, no line"))
                continue
            x = np.linspace(0, max(group["nfe_forward"].max(), fit.get("nfe_max", 0)) * 1.05, 50)
            ax.plot(x, fit["seconds_per_nfe"] * x + fit["intercept_seconds"], color=colors[tol],
                    linewidth=1)  # fmt: skip
            notes.append((colors[tol], f"tol {tol:g}: {_fit_text(fit)}"))
        for i, (color, note) in enumerate(notes):
            ax.text(0.03, 0.97 - 0.09 * i, note, transform=ax.transAxes, fontsize=6.5,
                    color=color, va="top", ha="left")  # fmt: skip
        kind = "tolerance swept" if (rows["kind"] == "tol").all() else "steps swept"
        backends = ", ".join(sorted(set(rows["backend"])))
        ax.set_title(f"{solver} ({kind}; {backends})", fontsize=8)
        ax.set_xlim(left=0)
        # Room above the data for the notes.
        ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * (1 + 0.12 * len(notes)))
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(solvers) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("forward NFE", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("forward solve time of the block (s)", fontsize=8)
    fig.suptitle(f"Fig. 3b of {PAPER}: solve time vs forward NFE, every solver's line that "
                 "the claim reads (joint step-size control)", fontsize=9)  # fmt: skip
    handles = [Line2D([], [], color=colors[tol], marker="o", markersize=3.5,
                      label=_tol_label(tol)) for tol in colors]  # fmt: skip
    title = (f"points: {_seeds_text(table['n_seeds'])}\nlines: least squares over every\n"
             "seed's solves; intercept as a share of\nthe fitted time at the largest NFE"
             f"{_failed_text(table, 'solves')}")  # fmt: skip
    _legend_outside(axes[0, -1], handles, title=title)
    return fig


def fig3c_nfe_backward_vs_forward(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt = _pyplot()
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
        # Hollow markers have no face at all, so that what lies under them shows.
        ax.scatter(rows["nfe_forward"], rows["nfe_backward"], s=area, marker=marker,
                   facecolor=color if filled else "none", edgecolor=edge or color,
                   linewidth=1.4, alpha=0.55 if filled and edge is None else 1.0,
                   zorder=zorder)  # fmt: skip

    # The three dopri5 probe arms solve the same images, so they share every forward NFE
    # and often the backward NFE too: they nest, largest and hollow at the bottom, smallest
    # and filled on top, so that each stays visible where they coincide.
    arms = [  # (source, solver, adjoint) -> marker, largest area, filled, edge, z, legend
        (("training", "dopri5", "full"), "o", 260, True, None, 2,
         "training steps: batch, dopri5, full adjoint (area ∝ steps)"),
        (("probe", "dopri5", "full"), "s", 260, False, None, 3,
         "one image, final weights: dopri5, full adjoint (area ∝ images)"),
        (("probe", "dopri5+seminorm", "full"), "v", 75, False, None, 4,
         "one image, final weights: dopri5, full adjoint, seminorm (area ∝ images)"),
        (("probe", "dopri5", "state"), "^", 10, True, "black", 5,
         "one image, final weights: dopri5, state adjoint (area ∝ images)"),
        (("probe", "lsoda", "state"), "D", 120, False, None, 3,
         "one image, final weights: scipy LSODA, state adjoint (area ∝ images)"),
    ]  # fmt: skip
    handles = []
    for (source, solver, adjoint), marker, size_max, filled, edge, zorder, label in arms:
        rows = table[(table["source"] == source) & (table["solver"] == solver)
                     & (table["adjoint"] == adjoint)]  # fmt: skip
        if rows.empty:
            continue
        for tol, group in rows.groupby("train_tol"):
            points(group, colors[tol], marker, size_max, filled, edge, zorder)
        handles.append(Line2D([], [], linestyle="", marker=marker, label=label,
                              markersize=np.sqrt(12 + size_max) * 0.6,
                              markerfacecolor="0.5" if filled else "none",
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
    plt = _pyplot()
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
