"""Figure 8: the spirals' reconstruction and extrapolation, and the latent paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from odebench.products import registry
from odebench.products.figures.style import PAPER, _no_data, _pyplot, palette

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


SEQUENCE_LABELS = {"rnn": "RNN", "rnn_dt": "RNN given the time gaps", "latent_ode": "Latent ODE"}


def fig8_spirals(t: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """One row per number of observations: each model's reconstruction and extrapolation
    of the same held-out spirals, then the latent ODE's latent paths."""
    plt = _pyplot()
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
    colors = dict(zip(spirals, palette(max(len(spirals), 1)),
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
