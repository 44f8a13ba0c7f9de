"""The MNIST run families, free of torch: Table 1's training runs and the probes of them.

:data:`MNIST` trains one Table 1 arm (``resnet``, ``odenet-tol0.001``, ...) per seed;
:data:`PROBE` probes each trained ODE-Net for the solver studies (Figure 3). The planner,
the rules, the cost model and the report read these descriptors
(:class:`odebench.core.family.RunFamily`); :func:`memory_run` configures the one
memory-scaling job.
"""

from __future__ import annotations

import copy
from typing import Any

from odebench.core import paths
from odebench.core.family import ConfigError, Resolved, RunFamily, solver_section
from odebench.mnist.arms import ARMS, EVERY_TOLERANCE, ODE_MODELS

TABLE1 = "Table 1 (MNIST)"
SOLVER_STUDIES = "solver studies"


def arm_name(model: str, tol: float | None) -> str:
    """``odenet-tol0.001`` for ODE models, the bare model name for the others."""
    return model if tol is None else f"{model}-tol{tol:g}"


def parse_arm(arm: str) -> tuple[str, float | None]:
    model, sep, tol = arm.partition("-tol")
    return model, (float(tol) if sep else None)


def mnist_arms(resolved: Resolved) -> list[dict[str, Any]]:
    """One entry per Table 1 arm: ODE-Nets at every tolerance, the other ODE models at the
    first (:data:`odebench.mnist.arms.EVERY_TOLERANCE`), the rest once."""
    tolerances = [float(tol) for tol in resolved["tolerances"]]
    arms = []
    for model in resolved["mnist"]["models"]:
        if model in ODE_MODELS:
            tols = tolerances if model in EVERY_TOLERANCE else tolerances[:1]
        else:
            tols = [None]
        arms += [{"model": model, "tol": tol} for tol in tols]
    return arms


def mnist_run(resolved: Resolved, model: str, seed: int, tol: float | None) -> dict[str, Any]:
    """The complete config of one MNIST training run (stored with its results)."""
    if model not in ARMS:
        raise ConfigError(f"invalid config: model {model!r} is not one of: {', '.join(ARMS)}")
    if (tol is None) == (model in ODE_MODELS):
        raise ConfigError(
            f"invalid config: tol must be given for, and only for, {sorted(ODE_MODELS)}"
        )
    run = copy.deepcopy(dict(resolved["mnist"]))
    run.pop("models")
    run.update(run.pop("model_overrides", {}).get(model, {}))
    run.update(
        family="mnist",
        budget=resolved["budget"],
        model=model,
        seed=int(seed),
        tol=None if tol is None else float(tol),
        device=MNIST.device(resolved),
        data=resolved["data"]["mnist_npz"],
        **solver_section(resolved),
    )
    return run


def probe_run(resolved: Resolved, arm: str, seed: int) -> dict[str, Any]:
    """The config of one probe of the trained ODE-Net ``arm`` (``odenet-tol<t>``), ``seed``."""
    train_dir = paths.run_dir(resolved["budget"], "mnist", arm, seed)
    return dict(resolved["solver_studies"]["probe"]) | solver_section(resolved) | {
        "family": "probe", "budget": resolved["budget"], "arm": arm, "seed": int(seed),
        "train_dir": str(train_dir), "device": resolved["device"],
    }  # fmt: skip


def memory_run(resolved: Resolved) -> dict[str, Any]:
    """The config of the memory-scaling measurement (one training step per depth)."""
    return dict(resolved["solver_studies"]["memory"]) | {"family": "memory_scaling",
                                                         "budget": resolved["budget"]}  # fmt: skip


def _mnist_config(resolved: Resolved, arm: str, seed: int) -> dict[str, Any]:
    model, tol = parse_arm(arm)
    return mnist_run(resolved, model, seed, tol)


MNIST = RunFamily(
    name="mnist",
    part=TABLE1,
    rule="train_mnist",
    command="odebench.mnist",
    arm_pattern=r"[a-z]+(-tol[0-9.e+-]+)?",
    arms=lambda resolved: [arm_name(a["model"], a["tol"]) for a in mnist_arms(resolved)],
    run_config=_mnist_config,
    outputs={
        "metrics": paths.METRICS_JSON,
        "history": paths.HISTORY_CSV,
        "steps": paths.STEPS_CSV,
    },  # fmt: skip
    inputs=lambda resolved: {"data": resolved["data"]["mnist_npz"]},
    threads=None,
    on_device=True,
    runtime_min=lambda resolved: 10 + 15 * resolved["mnist"]["epochs"],
    mem_mb=4000,
)

PROBE = RunFamily(
    name="probe",
    part=SOLVER_STUDIES,
    rule="probe_odenet",
    command="odebench.mnist.probe",
    arm_pattern=r"odenet-tol[0-9.e+-]+",
    # The solver studies probe the ODE-Net of every training tolerance (Table 1's runs
    # where they coincide: the same run directory is the same job).
    arms=lambda resolved: [arm_name("odenet", float(t)) for t in resolved["tolerances"]],
    run_config=probe_run,
    outputs={
        "sweep": paths.SWEEP_CSV,
        "reversibility": paths.REVERSIBILITY_CSV,
        "backward": paths.BACKWARD_NFE_CSV,
        "metrics": paths.METRICS_JSON,
    },  # fmt: skip
    log=paths.PROBE_LOG,
    inputs=lambda resolved: {
        "metrics": str(
            paths.run_dir(resolved["budget"], "mnist", "{arm}", "{seed}") / paths.METRICS_JSON
        ),
        "data": resolved["data"]["mnist_npz"],
    },  # fmt: skip
    threads=None,
    mem_mb=4000,
)

#: The run families of this package, in the report's order.
RUN_FAMILIES = (MNIST, PROBE)
#: Rules of this package that make no run directory -> the part their time counts under.
OTHER_RULES = {"mnist_data": TABLE1, "memory_scaling": SOLVER_STUDIES}
