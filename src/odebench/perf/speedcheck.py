"""Is odebench's MNIST training step as fast as plain torchdiffeq code?

Times :meth:`odebench.mnist.train.Trainer.train_step` (the training loop's own
step, NFE counting included, with the budget's config: the ``lean`` backend by
default) against an idiomatic torchdiffeq implementation of the same network,
written the way torchdiffeq's examples/odenet_mnist.py writes it, with the same
initial weights and the same batches, alternating them so that machine noise
hits all alike. For the ODE-Net a third step runs beside them: odebench with the
seminorm adjoint (``adjoint_norm: seminorm``), reported separately because it
takes fewer backward steps by design.

Reports, per variant, the median seconds per step, the forward and backward
NFE of every step, and the ratio to torchdiffeq's example. Each variant keeps its
own optimizer, so its weights drift from the others' by rounding; the NFE line
says on how many steps a variant's NFE equalled the example's.

    python -m odebench.perf.speedcheck --model odenet --steps 8 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

from odebench.core.run import resolve_device
from odebench.mnist.arms import CROP_PADDING
from odebench.mnist.family import mnist_run
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


class _Counter:
    """Counts calls of a module through a forward pre-hook."""

    def __init__(self, module: nn.Module):
        self.calls = 0
        module.register_forward_pre_hook(self._count)

    def _count(self, module: nn.Module, args: Any) -> None:
        self.calls += 1


def dynamics_floor(func: nn.Module, h: torch.Tensor, replays: int = 200) -> dict[str, float]:
    """Milliseconds of one evaluation of ``func`` at state ``h``, and of one evaluation with
    its vector-Jacobian product (state and parameters), each replayed as a CUDA graph.

    A graph replay launches every kernel of a call at once, so these are the dynamics'
    own cost without Python or launch overhead: NFE x these times is the floor under
    which no solver (of that method and NFE) can take a step.
    """
    t = torch.tensor(0.5, device=h.device)
    y = h.detach().clone().requires_grad_(True)
    v = torch.randn_like(h)
    params = tuple(p for p in func.parameters() if p.requires_grad)

    def forward():
        with torch.no_grad():
            return func(t, y)

    def forward_backward():
        return torch.autograd.grad(func(t, y), (y, *params), v)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm up off the default stream, as capture requires
        for _ in range(3):
            forward()
            forward_backward()
    torch.cuda.current_stream().wait_stream(side)
    times = {}
    for name, fn in (("forward_ms", forward), ("forward_backward_ms", forward_backward)):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        graph.replay()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(replays):
            graph.replay()
        end.record()
        torch.cuda.synchronize()
        times[name] = start.elapsed_time(end) / replays
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.perf.speedcheck", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", choices=["odenet", "rknet"], default="odenet")
    parser.add_argument("--budget", default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--backend", help="odebench's solver backend (default: the config's)")
    parser.add_argument("--data", help="prepared MNIST .npz (default: the config's data.mnist_npz)")
    parser.add_argument(
        "--floor", action="store_true",
        help="on cuda: also the step's floor, its dynamics replayed as CUDA graphs",
    )  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    resolved = configuration.resolve(configuration.load(overrides={"budget": args.budget}))
    tol = resolved["tolerances"][0]
    run = mnist_run(resolved, args.model, 0, tol) | {"device": args.device}
    if args.data:
        run["data"] = args.data
    if args.backend:
        run["backend"] = args.backend
    variants = {f"odebench ({run['backend']})": run}
    if args.model == "odenet" and run["adjoint_norm"] != "seminorm":
        variants[f"odebench ({run['backend']}, seminorm)"] = run | {"adjoint_norm": "seminorm"}
    trainers = {
        name: Trainer(cfg, Path(tempfile.mkdtemp(prefix="odebench-speedcheck-")), device)
        for name, cfg in variants.items()
    }
    first = next(iter(trainers.values()))
    reference = reference_network(args.model, tol).to(device)
    block = next(m for m in reference.modules() if isinstance(m, _ODEBlock))
    counter = _Counter(block.odefunc)
    # Same weights: every network registers its parameters in the same order.
    with torch.no_grad():
        for trainer in list(trainers.values())[1:]:
            for mine, theirs in zip(first.model.parameters(), trainer.model.parameters(),
                                    strict=True):  # fmt: skip
                theirs.copy_(mine)
        for mine, theirs in zip(first.model.parameters(), reference.parameters(), strict=True):
            theirs.copy_(mine)
    ref_opt = torch.optim.SGD(
        reference.parameters(), lr=first.optimizer.param_groups[0]["lr"], momentum=0.9
    )

    def reference_step(x, y):
        ref_opt.zero_grad()
        counter.calls = 0
        loss = F.cross_entropy(reference(x), y)
        forward = counter.calls
        loss.backward()
        ref_opt.step()
        return forward, counter.calls - forward

    def odebench_step(trainer):
        return lambda x, y: trainer.train_step((x, y))[1:]

    steps = {name: odebench_step(trainer) for name, trainer in trainers.items()}
    steps["torchdiffeq example"] = reference_step
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    generator = torch.Generator().manual_seed(0)
    batch = run["batch_size"]
    times: dict[str, list[float]] = {name: [] for name in steps}
    nfes: dict[str, list[tuple[int, int]]] = {name: [] for name in steps}
    for step in range(args.steps + 1):  # the first step warms up and is dropped
        idx = torch.randint(0, len(first.x_train), (batch,), generator=generator)
        x = random_crop(first.x_train[idx], CROP_PADDING, generator).to(device)
        y = first.y_train[idx].to(device)
        for name, fn in steps.items():
            sync()
            start = time.perf_counter()
            nfe = fn(x, y)
            sync()
            if step:
                times[name].append(time.perf_counter() - start)
                nfes[name].append(tuple(int(n) for n in nfe))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["torchdiffeq example"]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"{args.model} tol {tol:g}, batch {batch}, {where}, {args.threads} threads, "
          f"{args.steps} steps (medians), torch {torch.__version__}")  # fmt: skip
    for name in steps:
        forward = [f for f, _ in nfes[name]]
        backward = [b for _, b in nfes[name]]
        same = sum(n == r for n, r in zip(nfes[name], nfes["torchdiffeq example"], strict=True))
        print(f"  {name:<32} {med[name]:.3f} s/step  ratio {med[name] / base:.3f}  "
              f"NFE forward {forward} backward {backward}  "
              f"(equal to the example's on {same}/{args.steps} steps)")  # fmt: skip
    if args.floor and device.type == "cuda" and args.model == "odenet":
        h = first.model[0](x)  # the last batch's features: the ODE block's state
        floor = dynamics_floor(first.model[1].dynamics.func, h)
        forward = statistics.median(f for f, _ in nfes["torchdiffeq example"])
        backward = statistics.median(b for _, b in nfes["torchdiffeq example"])
        step_floor = forward * floor["forward_ms"] + backward * floor["forward_backward_ms"]
        print(f"  floor: dynamics {floor['forward_ms']:.3f} ms forward, "
              f"{floor['forward_backward_ms']:.3f} ms forward+backward (CUDA graph replays); "
              f"x NFE {forward:g} + {backward:g} = {step_floor:.1f} ms per step")  # fmt: skip
        for name in steps:
            print(f"  {name:<32} {1e3 * med[name] / step_floor:.1f} x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
