"""2-D densities of Section 4: target energies (Figure 4) and toy data sets (Figure 5).

- :data:`ENERGIES`: unnormalized targets ``p(z) ∝ exp(-U(z))`` for density
  matching, the energy functions U1–U4 of Rezende & Mohamed (2015, Table 1),
  which the paper's Figure 4 draws on. U2–U4 are constant along z1 and so not
  normalizable; a soft wall ``(z1 / 4)^8`` confines them to about ``|z1| < 4``
  (the box every figure of them shows), which makes KL(q‖p) a true KL that
  :func:`log_partition` can normalize.
- :data:`DATASETS`: samplers of the two data sets of Figure 5, two circles and
  two moons, written here (no scikit-learn): both lie in about ``[-3, 3]^2``.
- :func:`grid`: the square grid on which densities are evaluated and drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import torch


def _w1(z: torch.Tensor) -> torch.Tensor:
    return torch.sin(2 * math.pi * z[:, 0] / 4)


def _w2(z: torch.Tensor) -> torch.Tensor:
    return 3 * torch.exp(-0.5 * ((z[:, 0] - 1) / 0.6) ** 2)


def _w3(z: torch.Tensor) -> torch.Tensor:
    return 3 * torch.sigmoid((z[:, 0] - 1) / 0.3)


def _wall(z: torch.Tensor) -> torch.Tensor:
    return (z[:, 0] / 4) ** 8


def ring(z: torch.Tensor) -> torch.Tensor:
    """U1: a ring of radius 2 with two modes on the z1 axis."""
    radius = torch.linalg.vector_norm(z, dim=1)
    modes = torch.logaddexp(-0.5 * ((z[:, 0] - 2) / 0.6) ** 2, -0.5 * ((z[:, 0] + 2) / 0.6) ** 2)
    return 0.5 * ((radius - 2) / 0.4) ** 2 - modes


def wave(z: torch.Tensor) -> torch.Tensor:
    """U2: a sine wave."""
    return 0.5 * ((z[:, 1] - _w1(z)) / 0.4) ** 2 + _wall(z)


def split_wave(z: torch.Tensor) -> torch.Tensor:
    """U3: a sine wave and a copy bent away by a bump."""
    a = -0.5 * ((z[:, 1] - _w1(z)) / 0.35) ** 2
    b = -0.5 * ((z[:, 1] - _w1(z) + _w2(z)) / 0.35) ** 2
    return -torch.logaddexp(a, b) + _wall(z)


def step_wave(z: torch.Tensor) -> torch.Tensor:
    """U4: a sine wave and a copy shifted by a sigmoid step."""
    a = -0.5 * ((z[:, 1] - _w1(z)) / 0.4) ** 2
    b = -0.5 * ((z[:, 1] - _w1(z) + _w3(z)) / 0.35) ** 2
    return -torch.logaddexp(a, b) + _wall(z)


#: Target name -> energy U (batch of points (N, 2) -> (N,)).
ENERGIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ring": ring,
    "wave": wave,
    "split_wave": split_wave,
    "step_wave": step_wave,
}


def energy(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in ENERGIES:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(ENERGIES)}")
    return ENERGIES[name]


def grid(lim: float, points: int) -> tuple[torch.Tensor, float]:
    """Cell centres of a ``points`` x ``points`` grid over ``[-lim, lim]^2``, and the cell area.

    Returns:
        (points^2, 2) float64 tensor, x varying fastest; the area of one cell.
    """
    step = 2 * lim / points
    axis = -lim + step * (torch.arange(points, dtype=torch.float64) + 0.5)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1), step * step


def density_on_grid(name: str, lim: float, points: int) -> pd.DataFrame:
    """The normalised target density exp(-U) / Z at the cell centres of the figures' grid."""
    cells, _ = grid(lim, points)
    density = torch.exp(-energy(name)(cells) - log_partition(name))
    return pd.DataFrame({"x": cells[:, 0], "y": cells[:, 1], "density": density})


def log_partition(name: str, lim: float = 8.0, points: int = 2000) -> float:
    """log ∫ exp(-U) over the plane, by the midpoint rule on a fine grid (float64).

    Every target's mass lies well inside ``[-8, 8]^2``; at 2000 points per axis
    (cells of 0.008) the rule is accurate to far below the KLs it normalizes.
    """
    z, area = grid(lim, points)
    u = energy(name)(z)
    return float(torch.logsumexp(-u, dim=0) + math.log(area))


def two_circles(n: int, generator: torch.Generator, noise: float = 0.08) -> torch.Tensor:
    """Two concentric circles of radii 2.5 and 1.25, half the points on each."""
    angle = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    radius = torch.where(torch.arange(n) % 2 == 0, 2.5, 1.25).to(torch.float64)
    points = radius[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return (points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)).float()


def two_moons(n: int, generator: torch.Generator, noise: float = 0.1) -> torch.Tensor:
    """Two interleaved half circles (the scikit-learn layout), centred and scaled by 2."""
    angle = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    upper = torch.arange(n) % 2 == 0
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    points = torch.stack([x - 0.5, y - 0.25], dim=1)
    points = points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return (2 * points).float()


#: Data set name -> sampler(n, generator) of (n, 2) float32 points.
DATASETS: dict[str, Callable[[int, torch.Generator], torch.Tensor]] = {
    "two_circles": two_circles,
    "two_moons": two_moons,
}


def held_out_frame(name: str, n: int, seed: int) -> pd.DataFrame:
    """``n`` samples of data set ``name`` drawn with ``seed``, as x, y columns (for figures)."""
    points = dataset(name)(n, torch.Generator().manual_seed(seed))
    return pd.DataFrame({"x": points[:, 0].numpy(), "y": points[:, 1].numpy()})


def dataset(name: str) -> Callable[[int, torch.Generator], torch.Tensor]:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]
