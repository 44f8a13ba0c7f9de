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
