"""The Table 2 run family, free of torch: one model at one number of observations.

:data:`SPIRALS` trains ``latent_ode-n30``, ``rnn-n100``, ... per seed on the budget's
spirals data set (:func:`spirals_data_run` configures the job that makes it). See
:class:`odebench.core.family.RunFamily` for who reads the descriptor.

Below them, the family's products (:mod:`odebench.core.products`): its ``TABLES`` and
``FIGURES``, their report ``CATEGORIES`` and the ``CLAIMS`` modules of
:mod:`odebench.products.claims`, gathered by :mod:`odebench.families`.
"""

from __future__ import annotations

from typing import Any

from odebench.core import paths
from odebench.core.family import ConfigError, Resolved, RunFamily, solver_section
from odebench.core.products import Figure, RunFiles, Table

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


# -- products: this family's tables and figures (odebench.products.registry) -------------

_METRICS = paths.METRICS_JSON
_TABLES = "odebench.products.tables"
_SPIRALS = "odebench.products.figures.spirals"

TABLE2 = Table(
    "table2_spirals", "spirals", f"{_TABLES}.spirals:build", "Table 2: spirals",
    "Table 2 of Chen et al. (2018), reproduced: RMSE of the 100 points after the\n"
    "observed window (extrapolation) against the noise-free spiral, for the latent\n"
    "ODE, an RNN and an RNN given the time gaps, at 30, 50 and 100 irregularly\n"
    "sampled observations per trajectory, mean and std over seeds, with the\n"
    "paper's numbers in their own column. The ``.md`` beside this table says what\n"
    "differs from the paper's setup (iterations, tolerance).",
    inputs={"metrics": RunFiles("spirals", _METRICS)}, documents=True,
)  # fmt: skip
FIG8_TRAJECTORIES = Table(
    "fig8_trajectories", "spirals", "odebench.products.figure_data:spiral_trajectories",
    "Figure 8's trajectories",
    "Figure 8's data: truth, observations, reconstruction, extrapolation and latent path of\n"
    "a few held-out spirals, for the RNN and the latent ODE at the fewest observations.",
    inputs={"predictions": RunFiles("spirals", paths.PREDICTIONS_CSV, "figure8")},
)  # fmt: skip

#: This family's tables and figures, in report order.
TABLES = (TABLE2, FIG8_TRAJECTORIES)
FIGURES = (
    Figure(
        "fig8_spirals", "spirals", f"{_SPIRALS}:fig8_spirals", "Figure 8: spiral extrapolation",
        "Figure 8 of the paper, measured: for a few held-out spirals at each number of\n"
        "observations, the RNN's and the latent ODE's reconstruction (inside the\n"
        "observed window) and extrapolation (after it) against the noise-free spiral,\n"
        "and the latent ODE's latent trajectories projected onto their first two\n"
        "principal axes. Look at whether the extrapolation keeps turning the right way.",
        tables=(FIG8_TRAJECTORIES,),
        look="whether each model's extrapolation keeps following the noise-free spiral past "
        "the observed window. The paper shows the latent ODE doing so where the RNN drifts; "
        "Table 2 says which does here.",
        differs="fewer training iterations and a looser solver tolerance with direct "
        "backpropagation on the cpu budget (see Table 2's notes).",
    ),
)  # fmt: skip
#: Report category (a product's ``family``) -> its heading in Snakemake's HTML report.
CATEGORIES = {"spirals": "Table 2: spirals"}
#: Modules of :mod:`odebench.products.claims` holding this family's claims, in report order.
CLAIMS = ("spirals",)
