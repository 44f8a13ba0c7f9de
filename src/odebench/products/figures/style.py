"""What the figures of every family share: pyplot themed once, saving a figure, the
paper's name, std columns, the seeds and failures texts, and the empty panel."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

PAPER = "Chen et al. (2018)"


#: seaborn 0.13's colour-blind palette ("colorblind"), the colours of every figure.
COLORBLIND = (
    "#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc",
    "#ca9161", "#fbafe4", "#949494", "#ece133", "#56b4e9",
)  # fmt: skip

#: seaborn 0.13's "deep" palette: the colour cycle of its theme, for lines given no colour.
DEEP = (
    "#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3",
    "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd",
)  # fmt: skip

#: The rcParams of seaborn 0.13's ``set_theme(context="paper", style="whitegrid")``,
#: written out so that a figure job need not import seaborn (and scipy.stats with it:
#: 2.4 s of every figure job's 6 s on a slow machine).
THEME: dict[str, Any] = {
    "axes.axisbelow": True,
    "axes.edgecolor": ".8",
    "axes.grid": True,
    "axes.labelcolor": ".15",
    "axes.labelsize": 9.6,
    "axes.linewidth": 1.0,
    "axes.titlesize": 9.6,
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans",
                        "sans-serif"],
    "font.size": 9.6,
    "grid.color": ".8",
    "legend.fontsize": 8.8,
    "legend.title_fontsize": 9.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 4.8,
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "patch.linewidth": 0.8,
    "text.color": ".15",
    "xtick.bottom": False,
    "xtick.color": ".15",
    "xtick.labelsize": 8.8,
    "xtick.major.size": 4.8,
    "xtick.major.width": 1.0,
    "xtick.minor.size": 3.2,
    "xtick.minor.width": 0.8,
    "ytick.color": ".15",
    "ytick.labelsize": 8.8,
    "ytick.left": False,
    "ytick.major.size": 4.8,
    "ytick.major.width": 1.0,
    "ytick.minor.size": 3.2,
    "ytick.minor.width": 0.8,
}  # fmt: skip


def palette(n: int = len(COLORBLIND)) -> list[tuple[float, float, float]]:
    """``n`` colours of :data:`COLORBLIND` as RGB, cycling past its ten."""
    from matplotlib.colors import to_rgb

    return [to_rgb(COLORBLIND[i % len(COLORBLIND)]) for i in range(n)]


@functools.cache
def _pyplot() -> Any:
    """matplotlib's pyplot (files only, never a window), themed once."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    matplotlib.rcParams.update(THEME)
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=list(DEEP))
    return plt


def save(fig: plt.Figure, out: Path) -> None:
    """Write ``fig`` to ``out`` (png) atomically: a figure is complete or absent."""
    plt = _pyplot()
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    # "tight" keeps legends placed outside the axes inside the image.
    fig.savefig(tmp, dpi=150, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)


def _std(values) -> np.ndarray:
    """A std column as floats, 0 where it is empty (one seed)."""
    return np.nan_to_num(pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float))


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


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8,
            color="0.4")  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
