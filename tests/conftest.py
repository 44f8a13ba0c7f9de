"""Shared fixtures: a tiny MNIST-shaped data set, configs, and analytic ODE problems."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from odebench.mnist import family as mnist_family
from odebench.mnist.data import write_npz_atomic
from odebench.pipeline import config as configuration
from odebench.products.reference import load_reference

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture()
def reference(repo) -> dict:
    """paper/reference.yaml: the paper's numbers and their sources."""
    return load_reference(repo / "paper" / "reference.yaml")


@pytest.fixture()
def base_config() -> dict:
    """config.yaml as shipped (a fresh copy per test)."""
    with open(REPO / "config.yaml") as f:
        return yaml.safe_load(f)


def tiny_arrays(seed: int = 0, n_train: int = 96, n_eval: int = 48) -> dict[str, np.ndarray]:
    """Random uint8 images whose label is readable from the mean brightness."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 40, (n, 28, 28)) + (labels * 20)[:, None, None]
        arrays[f"x_{split}"] = images.astype(np.uint8)
        arrays[f"y_{split}"] = labels.astype(np.int64)
    return arrays


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny_mnist.npz"
    write_npz_atomic(path, tiny_arrays(), source="synthetic test fixture")
    return path


@pytest.fixture()
def tiny_run(tiny_mnist, base_config) -> dict:
    """The run config of a tiny ODE-Net: 2 epochs of 96 images, loose tolerance."""
    resolved = configuration.resolve(base_config | {"budget": "smoke"})
    run = mnist_family.mnist_run(resolved, "odenet", seed=3, tol=0.1)
    run.update(data=str(tiny_mnist), epochs=2, batch_size=32, train_subset=None,
               eval_subset=None, eval_batch_size=48, log_every=1)  # fmt: skip
    return copy.deepcopy(run)


class LinearDecay(nn.Module):
    """dh/dt = -k h, exact solution h(t) = h(0) exp(-k t)."""

    def __init__(self, k: float = 1.5):
        super().__init__()
        self.k = nn.Parameter(torch.tensor(k))

    def forward(self, t, h):
        return -self.k * h


@pytest.fixture()
def linear_decay() -> LinearDecay:
    return LinearDecay()


@pytest.fixture()
def exact_decay():
    return lambda h0, k, t=1.0: h0 * math.exp(-k * t)


@pytest.fixture(scope="session")
def trained_odenet(tiny_mnist, tmp_path_factory) -> Path:
    """The run directory of a tiny ODE-Net trained once per session (1 epoch, tol 0.1)."""
    from odebench.mnist import train as mnist

    with open(REPO / "config.yaml") as f:
        config = yaml.safe_load(f)
    resolved = configuration.resolve(config | {"budget": "smoke"})
    run = mnist_family.mnist_run(resolved, "odenet", seed=0, tol=0.1)
    run.update(data=str(tiny_mnist), epochs=1, batch_size=32, train_subset=None,
               eval_subset=None, eval_batch_size=48)  # fmt: skip
    out = tmp_path_factory.mktemp("trained") / "odenet-tol0.1" / "seed0"
    mnist.train(run, out)
    return out


#: A small probe: two tolerances of dopri5, one other adaptive and two fixed-grid cases.
PROBE_SPEC = {
    "images": 16,
    "tradeoff_images": None,  # all 48 test images, in batches of 16
    "reference_tol": 1e-7,
    "adaptive": {"dopri5": [1e-1, 1e-4], "bosh3": [1e-2]},
    "fixed_steps": {"rk4": [2], "euler": [1, 4]},
    "reversibility_tolerances": [1e-2, 1e-5],
    "reversibility_images": 4,
    "backward_images": 2,
    "max_num_steps": 2000,
}


@pytest.fixture()
def probe_spec() -> dict:
    return copy.deepcopy(PROBE_SPEC)
