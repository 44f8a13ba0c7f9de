"""The figures' own tables, collected from files of the runs of one seed.

Each function is a table builder of :mod:`odebench.products.registry`. Collecting a
family's run files is the family's business (its run directory layout, and for Figure 4
the targets' true densities), so each calls its family's collector, imported when the
table is built: this module stays free of torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from odebench.core import artifacts

#: Six significant digits: far below what a figure resolves, a third of the bytes.
FLOAT_FORMAT = "%.6g"


def _dirs(files: Sequence[Path]) -> list[Path]:
    return [Path(f).parent for f in files]


def spiral_trajectories(
    inputs: Mapping[str, Sequence[Path]], reference: Any, settings: Any, out: Path
) -> None:
    """Figure 8: the predictions.csv of the chosen spirals runs, with model and n_obs."""
    from odebench.spirals.train import collect_trajectories

    table = collect_trajectories(_dirs(inputs["predictions"]))
    artifacts.write_text(out, table.to_csv(index=False))


def learned_densities(
    inputs: Mapping[str, Sequence[Path]], reference: Any, settings: Mapping[str, Any], out: Path
) -> None:
    """Figure 4: every flow's learned density on the grid, and each target's true one."""
    from odebench.cnf.train import collect_grids

    grid = settings["grid"]
    table = collect_grids(_dirs(inputs["grids"]), float(grid["lim"]), int(grid["points"]))
    artifacts.write_text(out, table.to_csv(index=False, float_format=FLOAT_FORMAT))


def flow_frames(
    inputs: Mapping[str, Sequence[Path]], reference: Any, settings: Any, out: Path
) -> None:
    """Figure 5: samples and densities along each flow, from noise to data."""
    from odebench.cnf.train import collect_frames

    table = collect_frames(_dirs(inputs["frames"]))
    artifacts.write_text(out, table.to_csv(index=False, float_format=FLOAT_FORMAT))
