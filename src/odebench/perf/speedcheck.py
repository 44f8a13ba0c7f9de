"""Is odebench's MNIST training step as fast as plain torchdiffeq code?

Times :meth:`odebench.mnist.train.Trainer.train_step` (the training loop's own
step, NFE counting included) against an idiomatic torchdiffeq implementation of
the same network, written the way torchdiffeq's examples/odenet_mnist.py writes
it, with the same weights and the same batches, alternating the two so that
machine noise hits both alike.
Reports the median seconds per step of each and their ratio.

    python -m odebench.perf.speedcheck --model odenet --steps 10 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

from odebench.core.run import resolve_device
from odebench.mnist.arms import CROP_PADDING
from odebench.mnist.train import Trainer, random_crop
from odebench.pipeline import config as configuration


class _ConcatConv(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self._layer = nn.Conv2d(dim + 1, dim, 3, 1, 1)

    def forward(self, t, x):
        tt = torch.ones_like(x[:, :1, :, :]) * t
        return self._layer(torch.cat([tt, x], 1))


class _ODEfunc(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, dim)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = _ConcatConv(dim)
        self.norm2 = nn.GroupNorm(32, dim)
        self.conv2 = _ConcatConv(dim)
        self.norm3 = nn.GroupNorm(32, dim)

    def forward(self, t, x):
        out = self.relu(self.norm1(x))
        out = self.conv1(t, out)
        out = self.relu(self.norm2(out))
        out = self.conv2(t, out)
        return self.norm3(out)


class _ODEBlock(nn.Module):
    def __init__(self, odefunc, tol, adjoint):
        super().__init__()
        self.odefunc = odefunc
        self.integration_time = torch.tensor([0, 1]).float()
        self.tol = tol
        self.solve = odeint_adjoint if adjoint else odeint

    def forward(self, x):
        t = self.integration_time.type_as(x)
        return self.solve(self.odefunc, x, t, rtol=self.tol, atol=self.tol)[1]


def reference_network(model: str, tol: float) -> nn.Module:
    """The plain torchdiffeq-example network (``odenet`` or ``rknet``)."""

    def norm(dim):
        return nn.GroupNorm(min(32, dim), dim)

    downsampling = [
        nn.Conv2d(1, 64, 3, 1), norm(64), nn.ReLU(inplace=True),
        nn.Conv2d(64, 64, 4, 2, 1), norm(64), nn.ReLU(inplace=True),
        nn.Conv2d(64, 64, 4, 2, 1),
    ]  # fmt: skip
    feature = [_ODEBlock(_ODEfunc(64), tol, adjoint=model == "odenet")]
    fc = [
        norm(64),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(64, 10),
    ]
    return nn.Sequential(*downsampling, *feature, *fc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.perf.speedcheck", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", choices=["odenet", "rknet"], default="odenet")
    parser.add_argument("--budget", default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    resolved = configuration.resolve(configuration.load(overrides={"budget": args.budget}))
    tol = resolved["tolerances"][0]
    run = configuration.mnist_run(resolved, args.model, 0, tol)
    ours = Trainer(
        run, Path(tempfile.mkdtemp(prefix="odebench-speedcheck-")), resolve_device(run["device"])
    )
    reference = reference_network(args.model, tol)
    # Same weights: both networks register their parameters in the same order.
    with torch.no_grad():
        for mine, theirs in zip(ours.model.parameters(), reference.parameters(), strict=True):
            theirs.copy_(mine)
    ref_opt = torch.optim.SGD(
        reference.parameters(), lr=ours.optimizer.param_groups[0]["lr"], momentum=0.9
    )

    def reference_step(x, y):
        ref_opt.zero_grad()
        loss = F.cross_entropy(reference(x), y)
        loss.backward()
        ref_opt.step()

    steps = {
        "odebench": lambda x, y: ours.train_step((x, y)),
        "torchdiffeq": reference_step,
    }
    generator = torch.Generator().manual_seed(0)
    batch = run["batch_size"]
    times = {"odebench": [], "torchdiffeq": []}
    for step in range(args.steps + 1):  # the first step warms up and is dropped
        idx = torch.randint(0, len(ours.x_train), (batch,), generator=generator)
        x = random_crop(ours.x_train[idx], CROP_PADDING, generator)
        y = ours.y_train[idx]
        for name, fn in steps.items():
            start = time.perf_counter()
            fn(x, y)
            if step:
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{args.model} tol {tol:g}, batch {batch}, {args.threads} threads, {args.steps} steps: "
        f"odebench {med['odebench']:.3f} s/step, "
        f"torchdiffeq example {med['torchdiffeq']:.3f} s/step, "
        f"ratio {med['odebench'] / med['torchdiffeq']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
