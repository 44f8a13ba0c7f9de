"""The spirals of Section 5.1: 2-D trajectories, half clockwise, half counter-clockwise.

Every spiral is the Archimedean spiral ``r = a + b * theta`` (counter-clockwise) or
its mirror image (clockwise), traversed at unit angular speed. Each starts at a
different point: the observed window is ``n_window`` consecutive points of a
fine time grid, starting at a random angle, and the extrapolation window is the
next ``n_extrapolate`` points. Observations carry i.i.d. Gaussian noise; the
noise-free trajectory over both windows is kept as the target of the RMSE.

The paper states 1000 spirals, half clockwise, each starting at a different point,
100 equally spaced time steps and Gaussian noise; it does not state the noise level,
radius or time span. Our choices, and why:

- ``b = 0.3`` and noise std 0.3, the values of torchdiffeq's ``examples/latent_ode.py``
  (written after the paper by its first author).
- A grid of 1000 points over ``[0, 6 pi]``: 100 observed points span 1.9 rad. The
  example's own call generates 500 points over its range (its ``ntotal = 1000`` is
  never passed), so its windows span twice the angle; its two directions are also
  two different curves centred apart, where ours are one curve and its mirror image,
  so that direction is the only difference between the two halves.
- **Extrapolation stays where training observed the curve** (:func:`coverage`): a
  test spiral's 100 future points must lie within the angles that the training
  windows of its direction observed. Training spirals start anywhere their window
  and future fit on the grid; test spirals start where their future ends at or
  before the last angle a training window of their direction reaches. Without this,
  about 12% of the test spirals extrapolated to radii no training window had seen.

Entry point (the data rule), given the budget's ``spirals.data`` settings plus the
``family`` and ``budget`` that every run config carries::

    python -m odebench.spirals data --run-config '{...}' --out results/cpu/data/spirals.npz
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from odebench.core import artifacts
from odebench.core.cli import run_main

#: Arrays of a spirals file; the first axis of every array but ``times`` is the spiral.
ARRAYS = ("times", "truth", "observed", "direction", "start", "is_test")

#: Keys of the data rule's run config that say which run it is, not what to generate:
#: they are left out of the generator's arguments and of the spec stored with the data,
#: so that the data (and their spec) do not depend on the budget's name.
RUN_KEYS = ("family", "budget")


def make_spirals(
    n_spirals: int = 1000,
    n_window: int = 100,
    n_extrapolate: int = 100,
    n_grid: int = 1000,
    stop: float = 6 * np.pi,
    a: float = 0.0,
    b: float = 0.3,
    noise_std: float = 0.3,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Generate the data set (deterministic in ``seed``).

    Returns:
        ``times`` (n_window + n_extrapolate,): time of each point, from 0;
        ``truth`` (N, n_window + n_extrapolate, 2): the noise-free trajectories;
        ``observed`` (N, n_window, 2): the noisy observations of the first window;
        ``direction`` (N,): +1 counter-clockwise, -1 clockwise (exactly half each);
        ``start`` (N,): index into the fine grid where each trajectory starts;
        ``is_test`` (N,): the held-out split (``test_fraction``, balanced by direction).
    """
    if n_spirals < 2 or n_spirals % 2:
        raise ValueError(f"n_spirals must be even and >= 2, got {n_spirals}")
    length = n_window + n_extrapolate
    if length >= n_grid:
        raise ValueError(f"n_window + n_extrapolate ({length}) must be below n_grid ({n_grid})")
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, stop, n_grid)
    direction = np.repeat([1, -1], n_spirals // 2)
    rng.shuffle(direction)
    is_test = np.zeros(n_spirals, dtype=bool)
    for sign in (1, -1):  # the same share of each direction in the test split
        members = np.flatnonzero(direction == sign)
        chosen = rng.choice(members, round(test_fraction * len(members)), replace=False)
        is_test[chosen] = True
    start = rng.integers(0, n_grid - length, n_spirals)
    for sign in (1, -1):  # test futures end where this direction's training windows end
        train = ~is_test & (direction == sign)
        if not train.any():
            raise ValueError("every direction needs training spirals")
        covered_end = int((start[train] + n_window).max())  # first grid index not observed
        latest = covered_end - length  # the last start whose future ends inside
        if latest < 0:
            raise ValueError("the training windows cannot cover a test spiral's future")
        test = is_test & (direction == sign)
        start[test] = rng.integers(0, latest + 1, int(test.sum()))
    theta = grid[start[:, None] + np.arange(length)]  # N x length
    radius = a + b * theta
    truth = np.stack([radius * np.cos(theta), direction[:, None] * radius * np.sin(theta)], -1)
    observed = truth[:, :n_window] + noise_std * rng.standard_normal((n_spirals, n_window, 2))
    return {
        "times": grid[:length] - grid[0],
        "truth": truth.astype(np.float32),
        "observed": observed.astype(np.float32),
        "direction": direction.astype(np.int64),
        "start": start.astype(np.int64),
        "is_test": is_test,
    }


def coverage(data: Mapping[str, np.ndarray]) -> dict[str, float]:
    """How much of the test spirals' futures lies outside what training windows observed.

    Per direction, the training windows observe grid indices up to the largest
    ``start + n_window``; a test future point beyond that index is uncovered. Returns
    the share of uncovered test future points and the largest overshoot (in grid
    steps), both 0 for data made by :func:`make_spirals`.
    """
    n_window = data["observed"].shape[1]
    length = data["truth"].shape[1]
    uncovered, total, overshoot = 0, 0, 0
    for sign in (1, -1):
        of_sign = data["direction"] == sign
        train, test = of_sign & ~data["is_test"], of_sign & data["is_test"]
        if not test.any():
            continue
        covered_end = int((data["start"][train] + n_window).max()) if train.any() else 0
        future = data["start"][test, None] + np.arange(n_window, length)
        uncovered += int((future >= covered_end).sum())
        total += future.size
        overshoot = max(overshoot, int(future.max()) - covered_end + 1)
    return {"uncovered_share": uncovered / total if total else 0.0,
            "max_overshoot_steps": max(overshoot, 0)}  # fmt: skip


def irregular_indices(rng: np.random.Generator, n_obs: int, n_window: int = 100) -> np.ndarray:
    """``n_obs`` distinct indices of the first ``n_window`` points, sorted (no replacement)."""
    if not 1 <= n_obs <= n_window:
        raise ValueError(f"n_obs must be in [1, {n_window}], got {n_obs}")
    return np.sort(rng.choice(n_window, n_obs, replace=False))


def subsample(observed: np.ndarray, n_obs: int, seed: int) -> np.ndarray:
    """One sorted index set per trajectory: (N, n_obs) indices into the observed window."""
    rng = np.random.default_rng(seed)
    return np.stack([irregular_indices(rng, n_obs, observed.shape[1]) for _ in observed])


def write_spirals(path: Path, spec: Mapping[str, Any]) -> dict[str, np.ndarray]:
    arrays = make_spirals(**spec)

    def save(f):
        np.savez_compressed(f, spec=np.array(json.dumps(dict(spec), sort_keys=True)), **arrays)

    artifacts.write_atomic(Path(path), save)
    return arrays


def load_spirals(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: not found; make it with `python -m odebench.spirals data`"
        )
    with np.load(path, allow_pickle=False) as npz:
        data = {name: npz[name] for name in ARRAYS}
        data["spec"] = json.loads(str(npz["spec"]))
    return data


def make_data(run: Mapping[str, Any], out: Path) -> None:
    """Generate the data set of a run config (its make_spirals settings) into ``out``."""
    arrays = write_spirals(out, {k: v for k, v in run.items() if k not in RUN_KEYS})
    n_test = int(arrays["is_test"].sum())
    print(f"{out}: {len(arrays['truth']) - n_test} train / {n_test} test spirals")


def main(argv: list[str] | None = None) -> int:
    return run_main("python -m odebench.spirals data", "Generate the spirals data set.",
                    make_data, argv, errors=(ValueError, TypeError), out_help="the .npz to write",
                    threads=False)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
