"""Figures as code: one function per figure, each drawing only from aggregated tables.

Each function takes the tables it reads (data frames keyed by product name, as declared
in :mod:`odebench.products.registry`) and returns a matplotlib figure;
:mod:`odebench.products.build` draws and saves it. matplotlib and seaborn are imported
when a figure is drawn, not with this module.

Every figure names the paper's figure it reproduces (or says it is not in the paper),
says over how many seeds its means and stds are taken, keeps its legend off the data,
and still draws from the smoke budget's tables: one seed (std empty), one training
tolerance, failed runs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from odebench.products import registry
from odebench.products.tables.solver_studies import (
    JOINT_BACKENDS,
    UNRECORDED_BACKEND,
    joint_control,
)

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

MIB = 2**20
PAPER = "Chen et al. (2018)"
#: dopri5's step counts whose NFE the solver-study figures mark: at loose tolerances the
#: trained ODE-Nets take 2 or 3 steps, so their NFE sits on these floors.
FLOOR_STEPS = (2, 3)
FLOOR_COLOR = "#8e5ea2"  # apart from the grid's grey and the data's palette


def dopri5_nfe(steps: int) -> int:
    """Evaluations dopri5 spends on ``steps`` steps: 2 to pick the first step size, then
    6 per step (7 stages, the last reused by the next step). A rejected step costs 6 too."""
    return 2 + 6 * steps


@functools.cache
def _pyplot() -> tuple[Any, Any]:
    """matplotlib's pyplot (files only, never a window) and seaborn, themed once."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid")
    return plt, sns


def save(fig: plt.Figure, out: Path) -> None:
    """Write ``fig`` to ``out`` (png) atomically: a figure is complete or absent."""
    plt, _ = _pyplot()
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    # "tight" keeps legends placed outside the axes inside the image.
    fig.savefig(tmp, dpi=150, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)


# -- shared pieces -------------------------------------------------------------------------


def _tol_label(tol: float) -> str:
    return f"trained at tol {tol:g}"


def _palette(values) -> dict:
    plt, sns = _pyplot()
    values = sorted(set(values))
    return dict(zip(values, sns.color_palette("colorblind", len(values)), strict=True))


def _std(values) -> np.ndarray:
    """A std column as floats, 0 where it is empty (one seed)."""
    return np.nan_to_num(pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float))


def _log_err(mean, std) -> np.ndarray:
    """Asymmetric error bars for a log axis: the lower bar stops short of zero."""
    mean, std = np.asarray(mean, dtype=float), _std(std)
    return np.vstack([np.minimum(std, 0.95 * np.abs(mean)), std])


def _seeds_text(n_seeds) -> str:
    """'mean ± std over 3 seeds' (or over a range of counts); says when there is no std."""
    n = pd.to_numeric(pd.Series(n_seeds), errors="coerce").dropna().astype(int)
    n = n[n > 0]
    if n.empty:
        return "no completed seed"
    if n.max() == 1:
        return "1 seed, no std"
    count = f"{n.min()}" if n.min() == n.max() else f"{n.min()}–{n.max()}"
    return f"mean ± std over {count} seeds"


def _failed_text(table: pd.DataFrame, what: str = "runs") -> str:
    """'; 3 failed runs left out' where the table counts failures, else ''."""
    if "n_failed" not in table:
        return ""
    failed = int(pd.to_numeric(table["n_failed"], errors="coerce").fillna(0).sum())
    return f"; {failed} failed {what} left out" if failed else ""


def _legend_outside(ax, handles=None, **kwargs) -> None:
    """The axes' legend to the right of it, where it covers no data."""
    kwargs = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0,
              "fontsize": 7, "title_fontsize": 7, "alignment": "left"} | kwargs  # fmt: skip
    if handles is None:
        ax.legend(**kwargs)
    else:
        ax.legend(handles=handles, **kwargs)


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8,
            color="0.4")  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


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


# -- Figure 8 (spirals) --------------------------------------------------------------------

SEQUENCE_LABELS = {"rnn": "RNN", "rnn_dt": "RNN given the time gaps", "latent_ode": "Latent ODE"}


def fig8_spirals(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """One row per number of observations: each model's reconstruction and extrapolation
    of the same held-out spirals, then the latent ODE's latent paths."""
    plt, sns = _pyplot()
    from matplotlib.lines import Line2D

    table = t[registry.FIG8_TRAJECTORIES.name]
    present = set(table["model"])
    models = [m for m in SEQUENCE_LABELS if m in present]
    models += sorted(present - set(models))
    latent = table[table["kind"] == "latent"]
    counts = sorted(int(n) for n in table["n_obs"].dropna().unique()) or [0]
    panels = len(models) + int(not latent.empty)
    fig, grid_axes = plt.subplots(len(counts), max(panels, 1), squeeze=False,
                                  figsize=(4.2 * max(panels, 1), 4.4 * len(counts) + 0.6),
                                  layout="constrained")  # fmt: skip
    spirals = sorted(table["spiral"].unique())
    colors = dict(zip(spirals, sns.color_palette("colorblind", max(len(spirals), 1)),
                      strict=False))  # fmt: skip
    space = table[table["kind"] != "latent"]
    # One window for every data-space panel, so they compare at a glance.
    window = (-1.0, 1.0)
    if not space.empty:
        lo = min(space["x"].min(), space["y"].min())
        hi = max(space["x"].max(), space["y"].max())
        pad = 0.05 * (hi - lo) or 1.0
        window = (lo - pad, hi + pad)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for axes, n_obs in zip(grid_axes, counts, strict=True):
        at_n = table[table["n_obs"] == n_obs] if n_obs else table
        for ax, model in zip(axes, models, strict=False):
            rows = at_n[at_n["model"] == model]
            if rows.empty:
                _no_data(ax, f"no {SEQUENCE_LABELS.get(model, model)} run at n = {n_obs}")
                continue
            for spiral, group in rows.groupby("spiral"):
                color = colors[spiral]
                part = {kind: g.sort_values("t") for kind, g in group.groupby("kind")}
                if "truth" in part:
                    ax.plot(part["truth"]["x"], part["truth"]["y"], color=color, lw=3.5,
                            alpha=0.25, solid_capstyle="round")  # fmt: skip
                if "observed" in part:
                    ax.scatter(part["observed"]["x"], part["observed"]["y"], s=9, color=color,
                               edgecolor="black", linewidth=0.3, zorder=3)  # fmt: skip
                if "reconstruction" in part:
                    ax.plot(part["reconstruction"]["x"], part["reconstruction"]["y"],
                            color=color, lw=1.4)  # fmt: skip
                if "extrapolation" in part:
                    ax.plot(part["extrapolation"]["x"], part["extrapolation"]["y"], color=color,
                            lw=1.4, linestyle="--")  # fmt: skip
            ax.set_title(f"({next(letters)}) {SEQUENCE_LABELS.get(model, model)}, "
                         f"{n_obs} observations", fontsize=9)  # fmt: skip
            ax.set(xlabel="x", ylabel="y", xlim=window, ylim=window)
            ax.set_aspect("equal", adjustable="box")
        if latent.empty:
            continue
        ax = axes[panels - 1]
        # The latent path splits where the data-space panels do: reconstruction, then
        # extrapolation (the last observation where a run wrote no reconstruction).
        ode = at_n[at_n["model"] == "latent_ode"]
        inside_kind = "reconstruction" if (ode["kind"] == "reconstruction").any() else "observed"
        window_end = ode[ode["kind"] == inside_kind]
        paths = at_n[at_n["kind"] == "latent"]
        if paths.empty:
            _no_data(ax, f"no latent ODE run at n = {n_obs}")
            continue
        for spiral, group in paths.groupby("spiral"):
            group = group.sort_values("t")
            seen = window_end.loc[window_end["spiral"] == spiral, "t"]
            split = seen.max() if len(seen) else group["t"].max()
            inside = group[group["t"] <= split]
            after = group[group["t"] >= split]
            ax.plot(inside["x"], inside["y"], color=colors[spiral], lw=1.4)
            ax.plot(after["x"], after["y"], color=colors[spiral], lw=1.4, linestyle="--")
            ax.scatter(group["x"].iloc[:1], group["y"].iloc[:1], color=colors[spiral], s=30,
                       marker="o", edgecolor="black", zorder=3)  # fmt: skip
        ax.set_title(f"({next(letters)}) Latent ODE's latent trajectories, {n_obs} "
                     "observations", fontsize=9)  # fmt: skip
        ax.set(xlabel="latent principal axis 1", ylabel="latent principal axis 2")
    grey = "0.35"
    handles = [
        Line2D([], [], color=grey, lw=3.5, alpha=0.3, label="truth (noise-free spiral)"),
        Line2D([], [], color=grey, linestyle="", marker="o", markersize=4,
               markeredgecolor="black", markeredgewidth=0.3, label="observations (noisy)"),
        Line2D([], [], color=grey, lw=1.4, label="reconstruction (observed window)"),
        Line2D([], [], color=grey, lw=1.4, linestyle="--", label="extrapolation (after it)"),
    ]  # fmt: skip
    if not latent.empty:
        handles.append(Line2D([], [], color=grey, linestyle="", marker="o", markersize=6,
                              markeredgecolor="black",
                              label="latent path's start (first time)"))  # fmt: skip
    seeds = ", ".join(str(s) for s in sorted(table["seed"].unique())) if "seed" in table else "?"
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8,
               title=f"colour: one held-out spiral each ({len(spirals)} spirals, seed {seeds})",
               title_fontsize=8)  # fmt: skip
    fig.suptitle(f"Fig. 8 of {PAPER}: spiral reconstruction and extrapolation", fontsize=10)
    return fig


# -- Figures 4 and 5 (CNF) -----------------------------------------------------------------


def _grid_image(rows: pd.DataFrame) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A density on its square grid (rows with x, y, density) and its imshow extent."""
    xs, ys = np.sort(rows["x"].unique()), np.sort(rows["y"].unique())
    image = rows.pivot_table(index="y", columns="x", values="density").to_numpy()
    step = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 0.5
    return image, (xs[0] - step, xs[-1] + step, ys[0] - step, ys[-1] + step)


def _density_image(ax, rows: pd.DataFrame, title: str, norm, cmap) -> Any:
    """A density on its grid as an image on ``norm``'s colour scale; None without rows."""
    ax.set_title(title, fontsize=8)
    if rows.empty or rows["density"].isna().all():
        _no_data(ax, "no density\n(run failed?)")
        return None
    image, extent = _grid_image(rows)
    return ax.imshow(image, origin="lower", cmap=cmap, norm=norm, aspect="equal",
                     extent=extent, interpolation="nearest")  # fmt: skip


def _cmap(plt):
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad(cmap(0.0))  # zero density on a log scale: the scale's bottom colour
    cmap.set_under(cmap(0.0))
    return cmap


def _small_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(3, integer=True))
    ax.tick_params(labelsize=6, pad=1)
    ax.grid(False)


def fig4_density_matching(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    from matplotlib.colors import Normalize

    grids, kl = t[registry.FIG4_DENSITIES.name], t[registry.CNF_DENSITY_MATCHING.name]
    targets = list(dict.fromkeys(grids["target"]))
    order = {"nf": 0, "cnf": 1}
    arms = (
        grids[grids["model"] != "target"][["model", "capacity"]]
        .drop_duplicates()
        .sort_values(["model", "capacity"],
                     key=lambda c: c.map(order).fillna(2) if c.name == "model" else c)
    )  # fmt: skip
    n_images = 1 + len(arms)
    fig, axes = plt.subplots(len(targets), n_images + 1, squeeze=False, layout="constrained",
                             figsize=(1.9 * n_images + 4.2, 2.25 * len(targets) + 0.6),
                             width_ratios=[1] * n_images + [1.9])  # fmt: skip
    colors = {"nf": sns.color_palette("colorblind")[0], "cnf": sns.color_palette("colorblind")[1]}
    names = {"nf": "planar NF, K layers", "cnf": "planar CNF, M units"}
    cmap = _cmap(plt)
    capacities = sorted(set(kl["capacity"].dropna()) | set(arms["capacity"]))
    for r, (row, target) in enumerate(zip(axes, targets, strict=True)):
        rows = grids[grids["target"] == target]
        # One colour scale per row: the target and every learned density compare directly.
        norm = Normalize(vmin=0, vmax=max(float(rows["density"].max()), 1e-12))
        panels = [(rows[rows["model"] == "target"], f"target: {target}")]
        for arm in arms.itertuples():
            letter = "K" if arm.model == "nf" else "M"
            learned = rows[(rows["model"] == arm.model) & (rows["capacity"] == arm.capacity)]
            panels.append((learned, f"{arm.model.upper()} {letter} = {arm.capacity}"))
        image = None
        for c, (ax, (data, title)) in enumerate(zip(row[:n_images], panels, strict=True)):
            image = _density_image(ax, data, title, norm, cmap) or image
            _small_ticks(ax)
            if c == 0:
                ax.set_ylabel("x₂", fontsize=7, labelpad=1)
            else:
                ax.tick_params(labelleft=False)
            if r == len(targets) - 1:
                ax.set_xlabel("x₁", fontsize=7, labelpad=1)
        if image is not None:
            bar = fig.colorbar(image, ax=list(row[:n_images]), shrink=0.85, pad=0.01,
                               aspect=15)  # fmt: skip
            bar.ax.set_title("density", fontsize=7)
            bar.ax.tick_params(labelsize=6)
        ax = row[-1]
        drawn = False
        for model, group in kl[kl["target"] == target].groupby("model"):
            group = group.sort_values("capacity")
            ok = group[np.isfinite(pd.to_numeric(group["kl_mean"], errors="coerce"))]
            if ok.empty:
                continue
            ax.errorbar(ok["capacity"], ok["kl_mean"], yerr=_std(ok["kl_std"]), marker="o",
                        markersize=4, capsize=2, color=colors.get(model),
                        label=names.get(model, model))  # fmt: skip
            if "params_mean" in ok:  # each point's parameter count beside it
                for arm in ok.dropna(subset=["params_mean"]).itertuples():
                    ax.annotate(f"{arm.params_mean:,.0f} params", (arm.capacity, arm.kl_mean),
                                xytext=(5, 3), textcoords="offset points", fontsize=5.5,
                                color=colors.get(model))  # fmt: skip
            drawn = True
        if not drawn:
            _no_data(ax, "no KL\n(runs failed?)")
        else:
            ax.set_xscale("log", base=2)
            ax.set_xticks(capacities, [str(c) for c in capacities])
            ax.minorticks_off()
            ax.set_ylim(bottom=min(0, ax.get_ylim()[0]), top=ax.get_ylim()[1] * 1.08)
            ax.set_xlim(min(capacities) / 1.4, max(capacities) * 1.9)  # room for the labels
        ax.set_xlabel("K (NF) / M (CNF)", fontsize=7, labelpad=1)
        ax.set_ylabel("KL(q‖p), nats", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_title(f"(d) KL vs capacity: {target}", fontsize=8)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[m], marker="o", markersize=4, label=names[m])
               for m in ("nf", "cnf") if m in set(kl["model"])]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower right", ncol=len(handles), fontsize=7,
               title=f"(d): KL(q‖p) {_seeds_text(kl['n_seeds'])}{_failed_text(kl)}; "
               "labels: parameters of each flow", title_fontsize=7)  # fmt: skip
    seed = sorted(grids.loc[grids["model"] != "target", "seed"].unique())[:1] if "seed" in grids \
        else []  # fmt: skip
    seed_text = f" (densities: seed {seed[0]})" if seed else ""
    fig.suptitle(f"Fig. 4 of {PAPER}: density matching, planar NF (depth K) vs planar CNF "
                 f"(width M){seed_text}; one colour scale per row", fontsize=9)  # fmt: skip
    return fig


def _mass(rows: pd.DataFrame) -> float:
    """The probability a density on its grid puts inside the grid's window."""
    if rows.empty:
        return float("nan")
    xs, ys = np.sort(rows["x"].unique()), np.sort(rows["y"].unique())
    if len(xs) < 2 or len(ys) < 2:
        return float("nan")
    return float(rows["density"].sum() * (xs[1] - xs[0]) * (ys[1] - ys[0]))


def _window(points: pd.DataFrame, grid: tuple[float, float, float, float]) -> tuple:
    """A square window around the central 99% of ``points`` and the density grid."""
    lo = np.minimum(points[["x", "y"]].quantile(0.005).to_numpy(), [grid[0], grid[2]])
    hi = np.maximum(points[["x", "y"]].quantile(0.995).to_numpy(), [grid[1], grid[3]])
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.06
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


def fig5_max_likelihood(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    frames = t[registry.FIG5_FRAMES.name]
    flows = frames[frames["kind"].isin(["density", "sample"])]
    data = frames[frames["kind"] == "data"]  # the held-out data, where the table has it
    keys = list(dict.fromkeys(zip(flows["dataset"], flows["model"], strict=True)))
    fractions = sorted(flows["fraction"].unique())
    density_rows = flows[flows["kind"] == "density"]
    grid = (
        _grid_image(density_rows[density_rows["fraction"] == density_rows["fraction"].iloc[0]])[1]
        if len(density_rows) else (-4.0, 4.0, -4.0, 4.0)
    )  # fmt: skip
    fig, axes = plt.subplots(2 * len(keys), len(fractions), squeeze=False, layout="constrained",
                             figsize=(1.75 * len(fractions) + 1.2,
                                      1.8 * 2 * len(keys) + 0.8))  # fmt: skip
    cmap = _cmap(plt)
    palette = sns.color_palette("colorblind")
    colors = {"cnf": palette[1], "nf": palette[0]}
    names = {"cnf": "CNF", "nf": "NF"}
    for k, (dataset, model) in enumerate(keys):
        rows = flows[(flows["dataset"] == dataset) & (flows["model"] == model)]
        density = rows.loc[rows["kind"] == "density", "density"]
        positive = density[density > 0]
        # Log scale, shared along the row: the NF's intermediate densities sit far below
        # its final one, and on a linear scale their panels look empty.
        vmax = float(positive.max()) if len(positive) else 1.0
        norm = LogNorm(vmin=vmax * 1e-3, vmax=vmax)
        label = f"{dataset.replace('_', ' ')}, {names.get(model, model.upper())}"
        image = None
        for j, fraction in enumerate(fractions):
            at = rows[rows["fraction"] == fraction]
            top, bottom = axes[2 * k][j], axes[2 * k + 1][j]
            stage = "noise" if fraction == 0 else ("model" if fraction == 1 else "")
            head = f"{fraction:.0%}" + (f" ({stage})" if stage else "")
            grid_rows = at[at["kind"] == "density"]
            image = _density_image(top, grid_rows, f"density, {head}", norm, cmap) or image
            mass = _mass(grid_rows)
            if mass < 0.9:  # the flow has carried the rest out of the grid: say so
                share = f"{mass:.{0 if mass >= 0.1 else 1}%}"
                top.text(0.5, 0.04, f"{share} of the mass in this window", fontsize=6,
                         color="white", ha="center", va="bottom",
                         transform=top.transAxes)  # fmt: skip
            samples = at[at["kind"] == "sample"]
            bottom.set_title(f"samples, {head}", fontsize=8)
            if samples.empty:
                _no_data(bottom, "no samples")
            else:
                sampled = data[data["dataset"] == dataset] if fraction == 1 else data.iloc[:0]
                xlim, ylim = _window(pd.concat([samples, sampled]), grid)
                if len(sampled):
                    bottom.scatter(sampled["x"], sampled["y"], s=1, color="0.3", alpha=0.3)
                bottom.scatter(samples["x"], samples["y"], s=1.2, alpha=0.5,
                               color=colors.get(model, palette[2]), rasterized=True)  # fmt: skip
                outside = (xlim[1] - xlim[0]) > (grid[1] - grid[0]) * 1.1
                if outside:  # the samples leave the density's window: show where it is
                    bottom.add_patch(Rectangle((grid[0], grid[2]), grid[1] - grid[0],
                                               grid[3] - grid[2], fill=False, color="0.2",
                                               linestyle="--", linewidth=0.8))  # fmt: skip
                bottom.set(xlim=xlim, ylim=ylim)
                bottom.set_aspect("equal")
            for ax in (top, bottom):
                _small_ticks(ax)
            if j == 0:
                top.set_ylabel(f"{label}\nx₂", fontsize=7)
                bottom.set_ylabel(f"{label}\nx₂", fontsize=7)
        if image is not None:
            bar = fig.colorbar(image, ax=list(axes[2 * k]), shrink=0.85, pad=0.01, aspect=12)
            bar.set_label("density (log)", fontsize=7)
            bar.ax.tick_params(labelsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("x₁", fontsize=7, labelpad=1)
    handles = [Line2D([], [], color=colors.get(m, palette[2]), marker="o", linestyle="",
                      markersize=3, label=f"samples of the {names.get(m, m)}")
               for m in dict.fromkeys(model for _, model in keys)]  # fmt: skip
    handles.append(Line2D([], [], color="0.2", linestyle="--", linewidth=0.8,
                          label="the density grid's window, where samples leave it"))  # fmt: skip
    if len(data):
        handles.append(Line2D([], [], color="0.3", marker="o", linestyle="", markersize=3,
                              label="held-out data (at 100%)"))  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7)
    seed = sorted(flows["seed"].unique())[:1] if "seed" in flows else []
    seed_text = f" (seed {seed[0]})" if seed else ""
    fig.suptitle(f"Fig. 5 of {PAPER}: maximum likelihood, from noise (0%) to the model (100%) "
                 f"along each flow{seed_text}\nCNF: fraction of flow time; NF: fraction of "
                 "layers", fontsize=9)  # fmt: skip
    return fig
