"""The figures' own tables, collected from files of one run per arm.

Each function is a table builder of :mod:`odebench.products.registry`: it concatenates
one csv of every run it is given, tagged with keys of the run's config. Figure 4 also
draws each target's true density, which only its family can compute
(:func:`odebench.cnf.densities.density_on_grid`, imported when the table is built, so
this module stays free of torch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.core import artifacts, paths
from odebench.products.aggregate import run_dirs_of

#: Six significant digits: far below what a figure resolves, a third of the bytes.
FLOAT_FORMAT = "%.6g"


def collect_run_tables(run_dirs: Iterable[Path], name: str, keys: Sequence[str]) -> pd.DataFrame:
    """csv ``name`` of every run directory, each row tagged with the run config's ``keys``."""
    frames = []
    for run_dir in map(Path, run_dirs):
        run = artifacts.read_json(run_dir / paths.CONFIG_JSON)
        frame = pd.read_csv(run_dir / name)
        frames.append(frame.assign(**{key: run[key] for key in keys}))
    if not frames:
        raise ValueError("no runs given")
    return pd.concat(frames, ignore_index=True)


def spiral_trajectories(
    inputs: Mapping[str, Sequence[Path]], reference: Any, settings: Any, out: Path
) -> None:
    """Figure 8: the predictions.csv of the chosen spirals runs, with model and n_obs."""
    keys = ("model", "n_obs", "seed")
    table = collect_run_tables(run_dirs_of(inputs["predictions"]), paths.PREDICTIONS_CSV, keys)
    artifacts.write_text(out, table.to_csv(index=False))


def median_kl_runs(run_dirs: Iterable[Path]) -> list[Path]:
    """Of each (target, model, capacity) arm's runs, the one with the median test KL."""
    arms: dict[tuple, list[tuple[float, int, Path]]] = {}
    for run_dir in map(Path, run_dirs):
        run = artifacts.read_json(run_dir / paths.CONFIG_JSON)
        metrics_file = run_dir / paths.METRICS_JSON
        kl = artifacts.read_json(metrics_file).get("kl") if metrics_file.is_file() else None
        kl = float("inf") if kl is None or kl != kl else float(kl)  # failed runs last
        arm = (run["target"], run["model"], run["capacity"])
        arms.setdefault(arm, []).append((kl, int(run["seed"]), run_dir))
    chosen = []
    for runs in arms.values():
        ranked = sorted(runs, key=lambda r: (r[0], r[1]))
        finite = [r for r in ranked if r[0] != float("inf")] or ranked
        chosen.append(finite[(len(finite) - 1) // 2][2])
    return chosen


def learned_densities(
    inputs: Mapping[str, Sequence[Path]], reference: Any, settings: Mapping[str, Any], out: Path
) -> None:
    """Figure 4: each flow's learned density on the grid, and each target's true one.

    Of an arm's seeds the one with the median test KL is drawn (the lower of the middle
    two for an even count; failed runs only when nothing else is there), so that the
    picture is the arm's typical fit, neither its luckiest nor its worst seed.
    """
    from odebench.cnf.densities import density_on_grid

    keys = ("target", "model", "capacity", "seed")
    table = collect_run_tables(median_kl_runs(run_dirs_of(inputs["grids"])), paths.GRID_CSV, keys)
    lim, points = float(settings["grid"]["lim"]), int(settings["grid"]["points"])
    targets = [density_on_grid(name, lim, points).assign(target=name, model="target",
                                                         capacity=0, seed=-1)
               for name in dict.fromkeys(table["target"])]  # fmt: skip
    table = pd.concat([table, *targets], ignore_index=True)
    artifacts.write_text(out, table.to_csv(index=False, float_format=FLOAT_FORMAT))


def flow_frames(
    inputs: Mapping[str, Sequence[Path]], reference: Any, settings: Any, out: Path
) -> None:
    """Figure 5: samples and densities along each flow, from noise to data, and the data.

    The ``data`` rows are the held-out samples the runs are scored on (their first
    ``frame_samples``), drawn again from the family's generator, so the figure shows
    the flows against the data.
    """
    from odebench.cnf.densities import held_out_frame
    from odebench.cnf.train import TEST_SEED

    dirs = run_dirs_of(inputs["frames"])
    keys = ("dataset", "model", "seed")
    table = collect_run_tables(dirs, paths.FRAMES_CSV, keys)
    runs = {}
    for run_dir in dirs:  # one sample of each data set, as large as the runs' frames
        run = artifacts.read_json(run_dir / paths.CONFIG_JSON)
        runs.setdefault(run["dataset"], run)
    data = [held_out_frame(name, int(run["frame_samples"]), TEST_SEED)
            .assign(fraction=1.0, kind="data", density=float("nan"), dataset=name,
                    model="data", seed=-1)
            for name, run in runs.items()]  # fmt: skip
    table = pd.concat([table, *data], ignore_index=True)
    artifacts.write_text(out, table.to_csv(index=False, float_format=FLOAT_FORMAT))
