"""Figures 4 and 5 (CNF): density matching, and maximum likelihood along each flow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from odebench.products import registry
from odebench.products.figures.style import (
    PAPER,
    _failed_text,
    _no_data,
    _pyplot,
    _seeds_text,
    _std,
    palette,
)

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


def _grid_image(rows: pd.DataFrame) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A density on its square grid (rows with x, y, density) and its imshow extent."""
    xs, ys = np.sort(rows["x"].unique()), np.sort(rows["y"].unique())
    image = rows.pivot_table(index="y", columns="x", values="density").to_numpy()
    step = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 0.5
    return image, (xs[0] - step, xs[-1] + step, ys[0] - step, ys[-1] + step)


def _density_image(ax, rows: pd.DataFrame, title: str, norm, cmap, size: float = 8) -> Any:
    """A density on its grid as an image on ``norm``'s colour scale; None without rows."""
    ax.set_title(title, fontsize=size)
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


def _small_ticks(ax, size: float = 6) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(3, integer=True))
    ax.tick_params(labelsize=size, pad=1)
    ax.grid(False)


def fig4_density_matching(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    plt = _pyplot()
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
                             figsize=(2.3 * n_images + 5.0, 2.7 * len(targets) + 0.9),
                             width_ratios=[1] * n_images + [1.9])  # fmt: skip
    colors = {"nf": palette()[0], "cnf": palette()[1]}
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
            seeds = sorted(learned["seed"].unique()) if "seed" in learned else []
            drawn_seed = f" (seed {seeds[0]})" if len(seeds) == 1 else ""
            panels.append((learned, f"{arm.model.upper()} {letter} = {arm.capacity}{drawn_seed}"))
        image = None
        for c, (ax, (data, title)) in enumerate(zip(row[:n_images], panels, strict=True)):
            image = _density_image(ax, data, title, norm, cmap, size=9) or image
            _small_ticks(ax, size=8)
            if c == 0:
                ax.set_ylabel("x₂", fontsize=9, labelpad=1)
            else:
                ax.tick_params(labelleft=False)
            if r == len(targets) - 1:
                ax.set_xlabel("x₁", fontsize=9, labelpad=1)
        if image is not None:
            bar = fig.colorbar(image, ax=list(row[:n_images]), shrink=0.85, pad=0.01,
                               aspect=15)  # fmt: skip
            bar.ax.set_title("density", fontsize=9)
            bar.ax.tick_params(labelsize=8)
        ax = row[-1]
        drawn = False
        for model, group in kl[kl["target"] == target].groupby("model"):
            group = group.sort_values("capacity")
            ok = group[np.isfinite(pd.to_numeric(group["kl_mean"], errors="coerce"))]
            if ok.empty:
                continue
            ax.errorbar(ok["capacity"], ok["kl_mean"], yerr=_std(ok["kl_std"]), marker="o",
                        markersize=5, capsize=3, color=colors.get(model),
                        label=names.get(model, model))  # fmt: skip
            if "params_mean" in ok:  # each point's parameter count beside it
                for arm in ok.dropna(subset=["params_mean"]).itertuples():
                    ax.annotate(f"{arm.params_mean:,.0f} params", (arm.capacity, arm.kl_mean),
                                xytext=(5, 3), textcoords="offset points", fontsize=7,
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
        ax.set_xlabel("K (NF) / M (CNF)", fontsize=9, labelpad=1)
        ax.set_ylabel("KL(q‖p), nats", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_title(f"KL against capacity: {target}", fontsize=10)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[m], marker="o", markersize=5, label=names[m])
               for m in ("nf", "cnf") if m in set(kl["model"])]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower right", ncol=len(handles), fontsize=9,
               title=f"right column (the paper's panel d): KL(q‖p) {_seeds_text(kl['n_seeds'])}"
               f"{_failed_text(kl)}; labels: parameters of each flow",
               title_fontsize=9)  # fmt: skip
    fig.suptitle(f"Fig. 4 of {PAPER}: density matching, planar NF (depth K) vs planar CNF "
                 "(width M); each arm's density drawn from its median-KL seed; one colour "
                 "scale per row", fontsize=11)  # fmt: skip
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
    plt = _pyplot()
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
    colorblind = palette()
    colors = {"cnf": colorblind[1], "nf": colorblind[0]}
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
        # One window for the row's sample panels, so that they compare at a glance.
        sample_rows = rows[rows["kind"] == "sample"]
        row_data = data[data["dataset"] == dataset]
        if len(sample_rows):
            xlim, ylim = _window(pd.concat([sample_rows, row_data]), grid)
            outside = (xlim[1] - xlim[0]) > (grid[1] - grid[0]) * 1.1
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
                if len(sampled):
                    bottom.scatter(sampled["x"], sampled["y"], s=1, color="0.3", alpha=0.3)
                bottom.scatter(samples["x"], samples["y"], s=1.2, alpha=0.5,
                               color=colors.get(model, colorblind[2]), rasterized=True)  # fmt: skip
                if outside:  # the samples leave the density's window: show where it is
                    bottom.add_patch(Rectangle((grid[0], grid[2]), grid[1] - grid[0],
                                               grid[3] - grid[2], fill=False, color="0.2",
                                               linestyle="--", linewidth=0.8))  # fmt: skip
                bottom.set(xlim=xlim, ylim=ylim)
                bottom.set_aspect("equal")
            for ax in (top, bottom):
                _small_ticks(ax)
                if j > 0:  # the row shares its window: its values once, on the left
                    ax.tick_params(labelleft=False)
            if j == 0:
                top.set_ylabel(f"{label}\nx₂", fontsize=7)
                bottom.set_ylabel(f"{label}\nx₂", fontsize=7)
        if image is not None:
            bar = fig.colorbar(image, ax=list(axes[2 * k]), shrink=0.85, pad=0.01, aspect=12)
            bar.set_label("density (log)", fontsize=7)
            bar.ax.tick_params(labelsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("x₁", fontsize=7, labelpad=1)
    handles = [Line2D([], [], color=colors.get(m, colorblind[2]), marker="o", linestyle="",
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
