"""The Table 2 run family, free of torch: one model at one number of observations.

:data:`SPIRALS` trains ``latent_ode-n30``, ``rnn-n100``, ... per seed on the budget's
spirals data set (:func:`spirals_data_run` configures the job that makes it). See
:class:`odebench.core.family.RunFamily` for who reads the descriptor.
"""

from __future__ import annotations

from typing import Any

from odebench.core import paths
from odebench.core.family import ConfigError, Resolved, RunFamily, solver_section

TABLE2 = "Table 2 (spirals)"


def spirals_arm(model: str, n_obs: int) -> str:
    """``latent_ode-n30``: a Table 2 model at a number of observations."""
    return f"{model}-n{n_obs}"


def parse_spirals_arm(arm: str) -> tuple[str, int]:
    model, _, n_obs = arm.rpartition("-n")
    return model, int(n_obs)


def spirals_run(resolved: Resolved, model: str, n_obs: int, seed: int) -> dict[str, Any]:
    """The complete config of one Table 2 run (stored with its results)."""
    spec = resolved["spirals"]
    if model not in spec["models"]:
        raise ConfigError(f"invalid config: spirals model {model!r} is not one of {spec['models']}")
    run = {k: v for k, v in spec.items() if k not in ("models", "n_obs", "data", "seeds")}
    run.update(
        family="spirals",
        budget=resolved["budget"],
        model=model,
        n_obs=int(n_obs),
        seed=int(seed),
        device=SPIRALS.device(resolved),
        data=str(paths.spirals_data(resolved["budget"])),
        **solver_section(resolved),
    )
    return run


def spirals_data_run(resolved: Resolved) -> dict[str, Any]:
    """The config of the budget's spirals data set (``make_spirals``'s settings)."""
    return dict(resolved["spirals"]["data"]) | {"family": "spirals_data",
                                                 "budget": resolved["budget"]}  # fmt: skip


def _spirals_config(resolved: Resolved, arm: str, seed: int) -> dict[str, Any]:
    model, n_obs = parse_spirals_arm(arm)
    return spirals_run(resolved, model, n_obs, seed)


SPIRALS = RunFamily(
    name="spirals",
    part=TABLE2,
    rule="train_spirals",
    command="odebench.spirals train",
    arm_pattern=r"[a-z_]+-n\d+",
    arms=lambda resolved: [
        spirals_arm(model, n)
        for model in resolved["spirals"]["models"]
        for n in resolved["spirals"]["n_obs"]
    ],  # fmt: skip
    run_config=_spirals_config,
    outputs={
        "metrics": paths.METRICS_JSON,
        "history": paths.HISTORY_CSV,
        "predictions": paths.PREDICTIONS_CSV,
    },  # fmt: skip
    inputs=lambda resolved: {"data": str(paths.spirals_data(resolved["budget"]))},
    seeds_key="spirals",
    # The latent ODE's kernels are too small to fill a GPU (odebench.perf.cost, H200 vs
    # 2 CPU cores: 1.2 against 0.36 s a step).
    on_device=False,
    runtime_min=lambda resolved: 10 + resolved["spirals"]["iterations"] // 20,
)

RUN_FAMILIES = (SPIRALS,)
OTHER_RULES = {"spirals_data": TABLE2}
