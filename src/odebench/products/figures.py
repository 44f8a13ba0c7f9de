"""Figures as code: one function per figure, each drawing only from aggregated tables.

Each function takes the tables it reads (data frames keyed by product name, as declared
in :mod:`odebench.products.registry`) and returns a matplotlib figure;
:mod:`odebench.products.build` draws and saves it. matplotlib and seaborn are imported
when a figure is drawn, not with this module.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from odebench.products import registry

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

MIB = 2**20


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
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=150)
    plt.close(fig)
    tmp.replace(out)


def _tol_label(tol: float) -> str:
    return f"trained at tol {tol:g}"


def _palette(values) -> dict:
    plt, sns = _pyplot()
    values = sorted(set(values))
    return dict(zip(values, sns.color_palette("colorblind", len(values)), strict=True))


def _band(ax, x, mean, std, color, label, marker="o"):
    ax.plot(x, mean, marker=marker, color=color, label=label)
    std = np.nan_to_num(np.asarray(std, dtype=float))
    lower = np.clip(np.asarray(mean) - std, np.asarray(mean) * 1e-3, None)
    ax.fill_between(x, lower, np.asarray(mean) + std, color=color, alpha=0.2, linewidth=0)


def fig3a_nfe_vs_error(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    table = t[registry.WORK_PRECISION.name]
    table = table[table["solver"] == "dopri5"]
    fig, ax = plt.subplots(figsize=(5, 4))
    colors = _palette(table["train_tol"])
    for tol, group in table.groupby("train_tol"):
        group = group.sort_values("nfe_forward")
        _band(ax, group["nfe_forward"], group["error"], group["error_std"], colors[tol],
              _tol_label(tol))  # fmt: skip
    ax.set(xlabel="forward NFE (dopri5, test-time tolerance swept)",
           ylabel="relative error of the ODE block's output", yscale="log",
           title="Fig. 3a: NFE vs numerical error")  # fmt: skip
    ax.legend(title="mean ± std over seeds")
    return fig


def fig3b_time_vs_nfe(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    table = t[registry.WORK_PRECISION.name]
    table = table[table["solver"] == "dopri5"]
    fits = t[registry.TIME_VS_NFE.name]
    fits = fits[fits["solver"] == "dopri5"].set_index("train_tol")
    fig, ax = plt.subplots(figsize=(5, 4))
    colors = _palette(table["train_tol"])
    for tol, group in table.groupby("train_tol"):
        ax.errorbar(group["nfe_forward"], group["seconds"], yerr=group["seconds_std"],
                    fmt="o", color=colors[tol], capsize=2)  # fmt: skip
        fit = fits.loc[tol]
        x = np.linspace(0, group["nfe_forward"].max() * 1.05, 50)
        ax.plot(x, fit["seconds_per_nfe"] * x + fit["intercept_seconds"], color=colors[tol],
                label=f"{_tol_label(tol)}: {1e3 * fit['seconds_per_nfe']:.1f} ms/NFE, "
                f"R² = {fit['r2']:.3f}")  # fmt: skip
    ax.set(xlabel="forward NFE (dopri5)", ylabel="forward solve time (s)",
           title="Fig. 3b: time vs NFE, linear fit")  # fmt: skip
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return fig


def fig3c_nfe_backward_vs_forward(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    table = t[registry.NFE_BACKWARD_VS_FORWARD.name]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    colors = _palette(table["train_tol"])
    markers = {("dopri5", "full"): "s", ("dopri5", "state"): "^", ("lsoda", "state"): "D"}
    training = table[table["source"] == "training"]
    for tol, group in training.groupby("train_tol"):
        ax.scatter(group["nfe_forward"], group["nfe_backward"], s=10 + 200 * np.sqrt(
            group["count"] / group["count"].max()), color=colors[tol], alpha=0.5,
            label=f"training steps, {_tol_label(tol)} (area ~ steps)")  # fmt: skip
    probes = table[table["source"] == "probe"]
    for (solver, scope), group in probes.groupby(["solver", "adjoint"]):
        weighted = group.assign(w=group["nfe_backward"] * group["count"]).groupby("train_tol")
        for tol, g in weighted:
            x = (g["nfe_forward"] * g["count"]).sum() / g["count"].sum()
            y = g["w"].sum() / g["count"].sum()
            label = f"one image, {solver}, {scope} adjoint, {_tol_label(tol)}"
            ax.scatter([x], [y], marker=markers.get((solver, scope), "o"), color=colors[tol],
                       edgecolor="black", s=60, zorder=3, label=label)  # fmt: skip
    top = max(table["nfe_forward"].max(), table["nfe_backward"].max()) * 1.1
    line = np.array([0, top])
    ax.plot(line, line, color="grey", linestyle=":", label="backward = forward")
    ax.plot(line, line / 2, color="black", linestyle="--", label="paper: backward ≈ forward / 2")
    ax.set(xlabel="forward NFE", ylabel="backward NFE (adjoint)", xlim=(0, top), ylim=(0, top),
           title="Fig. 3c: backward vs forward NFE")  # fmt: skip
    ax.legend(fontsize=6, loc="upper left")
    return fig


def fig3d_nfe_over_training(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    table = t[registry.NFE_OVER_TRAINING.name]
    fig, ax = plt.subplots(figsize=(5, 4))
    colors = _palette(table["train_tol"])
    for tol, group in table.groupby("train_tol"):
        group = group.sort_values("epoch_position")
        _band(ax, group["epoch_position"], group["nfe_forward"], group["nfe_forward_std"],
              colors[tol], _tol_label(tol), marker=".")  # fmt: skip
    ax.set(xlabel="training epoch", ylabel="forward NFE per batch",
           title="Fig. 3d: NFE over training")  # fmt: skip
    ax.legend(title="mean ± std over seeds")
    return fig


def memory_scaling(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    table = t[registry.MEMORY_SCALING.name]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    labels = {"adjoint": "ODE block, adjoint", "direct": "ODE block, direct backprop",
              "resnet": "ResNet blocks"}  # fmt: skip
    for method, group in table.groupby("method", sort=False):
        group = group.sort_values("depth")
        label = labels.get(method, method)
        axes[0].plot(group["depth"], group["activation_bytes"] / MIB, marker="o", label=label)
        axes[1].plot(group["depth"], group["peak_rss_bytes"] / MIB, marker="o", label=label)
    axes[0].set(xlabel="depth: rk4 steps (NFE = 4 x steps) or residual blocks L",
                ylabel="activation memory (MiB saved for backward)", yscale="log",
                title="one training step, block + head")  # fmt: skip
    axes[1].set(xlabel="depth", ylabel="peak RSS of the process (MiB)",
                title="process peak RSS (fresh process per point)")  # fmt: skip
    axes[0].legend()
    return fig


def work_precision(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    table = t[registry.WORK_PRECISION.name]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    colors = _palette(table["solver"])
    styles = dict(zip(sorted(table["train_tol"].unique()), ["-", "--", ":", "-."], strict=False))
    for (solver, tol), group in table.groupby(["solver", "train_tol"]):
        group = group.sort_values("nfe_forward")
        kw = {"color": colors[solver], "linestyle": styles.get(tol, "-"), "marker": "o",
              "markersize": 3, "label": f"{solver}, {_tol_label(tol)}"}  # fmt: skip
        axes[0].plot(group["seconds"], group["error"], **kw)
        axes[1].plot(group["nfe_forward"], group["error"], **kw)
        axes[2].plot(group["nfe_forward"], group["test_error_pct"], **kw)
    axes[0].set(xlabel="forward solve time (s)", ylabel="relative error of the block output",
                xscale="log", yscale="log", title="error vs time")  # fmt: skip
    axes[1].set(xlabel="forward NFE", ylabel="relative error of the block output",
                xscale="log", yscale="log", title="error vs NFE")  # fmt: skip
    axes[2].set(xlabel="forward NFE", ylabel="test error (%) on the probe images",
                xscale="log", title="accuracy vs NFE")  # fmt: skip
    axes[2].legend(fontsize=6, ncol=2)
    return fig


def fig8_spirals(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    table = t[registry.FIG8_TRAJECTORIES.name]
    labels = {"rnn": "RNN", "latent_ode": "Latent ODE"}
    models = [m for m in labels if m in set(table["model"])]
    has_latent = bool((table["kind"] == "latent").any())
    panels = len(models) + int(has_latent)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 4.5), squeeze=False)
    colors = sns.color_palette("colorblind", table["spiral"].nunique())
    for ax, model in zip(axes[0], models, strict=False):
        rows = table[table["model"] == model]
        for i, spiral in rows.groupby("spiral"):
            color = colors[int(i) % len(colors)]
            part = {kind: g.sort_values("t") for kind, g in spiral.groupby("kind")}
            ax.plot(part["truth"]["x"], part["truth"]["y"], color="grey", lw=1,
                    label="true spiral" if i == 0 else None)  # fmt: skip
            ax.scatter(part["observed"]["x"], part["observed"]["y"], s=6, color=color,
                       label="observations" if i == 0 else None)  # fmt: skip
            ax.plot(part["reconstruction"]["x"], part["reconstruction"]["y"], color=color, lw=1.5,
                    label="reconstruction" if i == 0 else None)  # fmt: skip
            ax.plot(part["extrapolation"]["x"], part["extrapolation"]["y"], color=color, lw=1.5,
                    linestyle="--", label="extrapolation" if i == 0 else None)  # fmt: skip
        n_obs = int(rows["n_obs"].iloc[0])
        ax.set(title=f"{labels[model]}, {n_obs} observations", xlabel="x", ylabel="y")
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(fontsize=7)
    if has_latent:
        ax = axes[0][-1]
        latent = table[table["kind"] == "latent"]
        for i, spiral in latent.groupby("spiral"):
            spiral = spiral.sort_values("t")
            ax.plot(spiral["x"], spiral["y"], color=colors[int(i) % len(colors)])
            ax.scatter(spiral["x"].iloc[:1], spiral["y"].iloc[:1], color="black", s=10)
        ax.set(title="latent trajectories (first 2 principal axes)", xlabel="PC 1", ylabel="PC 2")
    return fig


def _density_image(ax, rows: pd.DataFrame, title: str) -> None:
    """A density on its square grid (rows with x, y, density), as an image."""
    xs, ys = np.sort(rows["x"].unique()), np.sort(rows["y"].unique())
    image = rows.pivot_table(index="y", columns="x", values="density").to_numpy()
    step = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 0.5
    ax.imshow(image, origin="lower", cmap="viridis", aspect="equal",
              extent=(xs[0] - step, xs[-1] + step, ys[0] - step, ys[-1] + step))  # fmt: skip
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def fig4_density_matching(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    grids, kl = t[registry.FIG4_DENSITIES.name], t[registry.CNF_DENSITY_MATCHING.name]
    targets = list(dict.fromkeys(grids["target"]))
    arms = (
        grids[grids["model"] != "target"][["model", "capacity"]]
        .drop_duplicates()
        .sort_values(
            ["model", "capacity"],
            key=lambda c: c.map({"nf": 0, "cnf": 1}) if c.name == "model" else c,
        )  # fmt: skip
    )
    columns = 1 + len(arms) + 1
    fig, axes = plt.subplots(len(targets), columns, figsize=(1.9 * columns, 2.0 * len(targets)),
                             squeeze=False)  # fmt: skip
    colors = {"nf": sns.color_palette("colorblind")[0], "cnf": sns.color_palette("colorblind")[1]}
    for row, target in zip(axes, targets, strict=True):
        rows = grids[grids["target"] == target]
        _density_image(row[0], rows[rows["model"] == "target"], f"target: {target}")
        for ax, arm in zip(row[1:], arms.itertuples(), strict=False):
            learned = rows[(rows["model"] == arm.model) & (rows["capacity"] == arm.capacity)]
            letter = "K" if arm.model == "nf" else "M"
            _density_image(ax, learned, f"{arm.model.upper()} {letter}={arm.capacity}")
        ax = row[-1]
        for model, group in kl[kl["target"] == target].groupby("model"):
            group = group.sort_values("capacity")
            ax.errorbar(group["capacity"], group["kl_mean"], yerr=group["kl_std"].fillna(0),
                        marker="o", capsize=2, color=colors.get(model),
                        label=model.upper())  # fmt: skip
        capacities = sorted(kl["capacity"].unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks(capacities, [str(c) for c in capacities])
        ax.minorticks_off()
        ax.set(xlabel="K (NF) / M (CNF)", ylabel="KL(q‖p), nats")
        ax.set_ylim(bottom=0)
        ax.set_title("KL vs capacity (panel d)", fontsize=8)
        ax.legend(fontsize=6)
    fig.suptitle("Fig. 4: density matching, planar NF (depth K) vs planar CNF (width M)")
    return fig


def fig5_max_likelihood(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt, sns = _pyplot()
    frames = t[registry.FIG5_FRAMES.name]
    keys = list(dict.fromkeys(zip(frames["dataset"], frames["model"], strict=True)))
    fractions = sorted(frames["fraction"].unique())
    fig, axes = plt.subplots(2 * len(keys), len(fractions), squeeze=False,
                             figsize=(1.7 * len(fractions), 1.8 * 2 * len(keys)))  # fmt: skip
    for k, (dataset, model) in enumerate(keys):
        rows = frames[(frames["dataset"] == dataset) & (frames["model"] == model)]
        for j, fraction in enumerate(fractions):
            at = rows[rows["fraction"] == fraction]
            label = f"{dataset}, {model.upper()}\n" if j == 0 else ""
            _density_image(axes[2 * k][j], at[at["kind"] == "density"],
                           f"{label}density, {fraction:.0%}")  # fmt: skip
            samples = at[at["kind"] == "sample"]
            ax = axes[2 * k + 1][j]
            ax.scatter(samples["x"], samples["y"], s=1, alpha=0.5)
            lim = float(frames.loc[frames["kind"] == "density", "x"].abs().max())
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[])
            ax.set_aspect("equal")
            ax.set_title(f"{label}samples, {fraction:.0%}", fontsize=8)
    fig.suptitle("Fig. 5: maximum likelihood, from noise (0%) to data (100%) along the flow")
    return fig
