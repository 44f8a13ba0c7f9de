"""The flow run families, free of torch: Figure 4, Figure 5 and FFJORD's trace study.

:data:`DENSITY` fits a planar NF of depth K or a CNF of width M to a target energy
(``ring-cnf32``), :data:`LIKELIHOOD` fits either by maximum likelihood to a data set
(``two_moons-nf``), :data:`TRACE` measures the trace estimators (one ``study`` per
seed). See :class:`odebench.core.family.RunFamily` for who reads the descriptors.

Below them, the family's products (:mod:`odebench.core.products`): its ``TABLES`` and
``FIGURES``, their report ``CATEGORIES`` and the ``CLAIMS`` modules of
:mod:`odebench.products.claims`, gathered by :mod:`odebench.families`.
"""

from __future__ import annotations

from typing import Any

from odebench.core import paths
from odebench.core.family import ConfigError, Resolved, RunFamily, solver_section
from odebench.core.products import Figure, RunFiles, Table

CNF = "CNF"

#: Orientation of a planar NF per CNF task (see :mod:`odebench.cnf.flows`): density matching
#: needs exact samples and log q, maximum likelihood an exact, differentiable log p(x).
NF_DIRECTION = {"density": "generative", "likelihood": "normalizing"}


def density_arm(target: str, model: str, capacity: int) -> str:
    """``ring-cnf32``: a Figure 4 flow (NF depth K or CNF width M) fitted to a target."""
    return f"{target}-{model}{capacity}"


def parse_density_arm(arm: str) -> tuple[str, str, int]:
    target, _, flow = arm.rpartition("-")
    model = flow.rstrip("0123456789")
    return target, model, int(flow[len(model) :])


def likelihood_arm(dataset: str, model: str) -> str:
    """``two_moons-cnf``: a Figure 5 flow fitted to a data set."""
    return f"{dataset}-{model}"


def parse_likelihood_arm(arm: str) -> tuple[str, str]:
    dataset, _, model = arm.rpartition("-")
    return dataset, model


def _flow_run(resolved: Resolved, task: str, model: str, seed: int) -> dict[str, Any]:
    """Shared part of a Figure 4 / Figure 5 run config: solver, task settings, training."""
    spec = resolved["cnf"]
    section = spec[task]
    if model not in section["models"]:
        raise ConfigError(
            f"invalid config: cnf.{task} model {model!r} is not one of {sorted(section['models'])}"
        )
    run = {k: v for k, v in spec.items()
           if k not in ("density", "likelihood", "trace", "seeds")}  # fmt: skip
    run.update({k: v for k, v in section.items()
                if k not in ("models", "targets", "capacities", "datasets", "seeds")})  # fmt: skip
    run.update(section["models"][model])
    family = DENSITY if task == "density" else LIKELIHOOD
    run.update(family=family.name, task=task, budget=resolved["budget"], model=model,
               seed=int(seed), direction=NF_DIRECTION[task], device=family.device(resolved),
               **solver_section(resolved))  # fmt: skip
    return run


def cnf_density_run(
    resolved: Resolved, target: str, model: str, capacity: int, seed: int
) -> dict[str, Any]:
    """The complete config of one Figure 4 run (density matching)."""
    return _flow_run(resolved, "density", model, seed) | {
        "target": target,
        "capacity": int(capacity),
    }


def cnf_likelihood_run(resolved: Resolved, dataset: str, model: str, seed: int) -> dict[str, Any]:
    """The complete config of one Figure 5 run (maximum likelihood)."""
    run = _flow_run(resolved, "likelihood", model, seed)
    return run | {"dataset": dataset, "capacity": int(resolved["cnf"]["likelihood"]["capacity"])}


def cnf_trace_run(resolved: Resolved, seed: int) -> dict[str, Any]:
    """The config of one trace-estimator study (FFJORD) with ``seed``."""
    spec = resolved["cnf"]
    shared = {k: spec[k] for k in ("solver", "gradient", "hyper_hidden")}
    return shared | dict(spec["trace"]) | solver_section(resolved) | {
        "budget": resolved["budget"], "family": "cnf_trace", "seed": int(seed)
    }  # fmt: skip


def _runtime(task: str):
    """10 minutes and one per 50 iterations of the task's longest-training model."""
    return lambda resolved: (
        10 + max(spec["iterations"] for spec in resolved["cnf"][task]["models"].values()) // 50
    )


def _density_config(resolved: Resolved, arm: str, seed: int) -> dict[str, Any]:
    target, model, capacity = parse_density_arm(arm)
    return cnf_density_run(resolved, target, model, capacity, seed)


def _likelihood_config(resolved: Resolved, arm: str, seed: int) -> dict[str, Any]:
    dataset, model = parse_likelihood_arm(arm)
    return cnf_likelihood_run(resolved, dataset, model, seed)


# Flows train on the CPU whatever the device: a planar CNF step took 0.076 s on an H200
# against 0.017 s on 2 CPU cores (odebench.perf.cost, 2026-11-26).
DENSITY = RunFamily(
    name="cnf_density",
    part=CNF,
    rule="train_density",
    command="odebench.cnf train",
    arm_pattern=r"[a-z_]+-[a-z]+\d+",
    arms=lambda resolved: [
        density_arm(target, model, capacity)
        for target in resolved["cnf"]["density"]["targets"]
        for model in resolved["cnf"]["density"]["models"]
        for capacity in resolved["cnf"]["density"]["capacities"]
    ],
    run_config=_density_config,
    outputs={
        "metrics": paths.METRICS_JSON,
        "history": paths.HISTORY_CSV,
        "grid": paths.GRID_CSV,
    },  # fmt: skip
    seeds_key="cnf",
    runtime_min=_runtime("density"),
)

LIKELIHOOD = RunFamily(
    name="cnf_likelihood",
    part=CNF,
    rule="train_likelihood",
    command="odebench.cnf train",
    arm_pattern=r"[a-z_]+-[a-z]+",
    arms=lambda resolved: [
        likelihood_arm(dataset, model)
        for dataset in resolved["cnf"]["likelihood"]["datasets"]
        for model in resolved["cnf"]["likelihood"]["models"]
    ],
    run_config=_likelihood_config,
    outputs={
        "metrics": paths.METRICS_JSON,
        "history": paths.HISTORY_CSV,
        "frames": paths.FRAMES_CSV,
    },  # fmt: skip
    seeds_key="cnf.likelihood",
    runtime_min=_runtime("likelihood"),
)

TRACE = RunFamily(
    name="cnf_trace",
    part=CNF,
    rule="trace_study",
    command="odebench.cnf trace",
    arm_pattern=r"study",
    arms=lambda resolved: ["study"],
    run_config=lambda resolved, arm, seed: cnf_trace_run(resolved, seed),
    outputs={"metrics": paths.METRICS_JSON, "rows": paths.TRACE_CSV},
    seeds_key="cnf",
    mem_mb=7000,  # D = 64 and 256 alone peaked at 5.8 GiB
    fixed_arm="study",
)

RUN_FAMILIES = (DENSITY, LIKELIHOOD, TRACE)
OTHER_RULES: dict[str, str] = {}


# -- products: this family's tables and figures (odebench.products.registry) -------------

_METRICS = paths.METRICS_JSON
_TABLES = "odebench.products.tables"
_CNF = "odebench.products.figures.cnf"

CNF_DENSITY_MATCHING = Table(
    "cnf_density_matching", "cnf", f"{_TABLES}.cnf:build_density_matching",
    "Figure 4: density matching, NF against CNF",
    "Density matching (Figure 4): KL(q‖p) of planar NFs of depth K and planar CNFs of width\n"
    "M, one row per arm, mean and std over seeds, with the target's log-partition computed\n"
    "on a grid, so 0 is a perfect fit. The ``.md`` beside the table states the budget and\n"
    "what differs from the paper.",
    inputs={"metrics": RunFiles("cnf_density", _METRICS)}, documents=True,
)  # fmt: skip
CNF_MAX_LIKELIHOOD = Table(
    "cnf_max_likelihood", "cnf", f"{_TABLES}.cnf:build_max_likelihood",
    "Figure 5: maximum likelihood, NF against CNF",
    "Maximum likelihood (Figure 5): held-out negative log-likelihood of a planar NF and a\n"
    "planar CNF on two circles and two moons, mean and std over seeds. The ``.md`` beside\n"
    "the table states the budget and what differs from the paper.",
    inputs={"metrics": RunFiles("cnf_likelihood", _METRICS)}, documents=True,
)  # fmt: skip
TRACE_ESTIMATOR = Table(
    "trace_estimator", "cnf", f"{_TABLES}.cnf:build_trace_estimator",
    "FFJORD: exact trace against Hutchinson's estimator",
    "Trace estimator (FFJORD): seconds and NFE of a CNF training step for the exact trace\n"
    "and Hutchinson's estimator, by data dimension D, and the estimator's variance and\n"
    "bias. The ``.md`` beside the table states the settings.",
    inputs={"metrics": RunFiles("cnf_trace", _METRICS)}, documents=True,
)  # fmt: skip
FIG4_DENSITIES = Table(
    "fig4_densities", "cnf", "odebench.products.figure_data:learned_densities",
    "Figure 4's densities",
    "Figure 4's data: each target's density and every flow's learned density on a grid\n"
    "(of each arm, the seed with the median test KL).",
    inputs={"grids": RunFiles("cnf_density", paths.GRID_CSV)}, settings=("grid",),
)  # fmt: skip
FIG5_FRAMES = Table(
    "fig5_frames", "cnf", "odebench.products.figure_data:flow_frames", "Figure 5's frames",
    "Figure 5's data: samples and densities along each flow, from noise to data (first seed).",
    inputs={"frames": RunFiles("cnf_likelihood", paths.FRAMES_CSV, "first_seed")},
)  # fmt: skip

#: This family's tables and figures, in report order.
TABLES = (
    CNF_DENSITY_MATCHING, CNF_MAX_LIKELIHOOD, TRACE_ESTIMATOR, FIG4_DENSITIES, FIG5_FRAMES,
)  # fmt: skip
FIGURES = (
    Figure(
        "fig4_density_matching", "cnf", f"{_CNF}:fig4_density_matching",
        "Figure 4: density matching",
        "Figure 4 of Chen et al. (2018), reproduced: each row is a target density (first\n"
        "column), followed by what planar NFs of depth K and planar CNFs of width M learned\n"
        "by minimizing KL(q‖p), and the KL against K or M (the paper's panel d). Look for\n"
        "whether the CNF's KL falls with width where the NF needs depth. The paper trained\n"
        "CNFs for 10,000 and NFs for 500,000 iterations; this budget trains far fewer (see\n"
        "``cnf_density_matching.md``).",
        tables=(FIG4_DENSITIES, CNF_DENSITY_MATCHING),
        look="the CNF's fit should improve with width M while the NF needs depth K.",
        differs="the budget's training iterations and seeds (see the table above) against "
        "the paper's.",
    ),
    Figure(
        "fig5_max_likelihood", "cnf", f"{_CNF}:fig5_max_likelihood",
        "Figure 5: maximum likelihood training",
        "Figure 5 of Chen et al. (2018), reproduced: a planar CNF of 64 hidden units and a\n"
        "planar NF of 64 one-unit layers trained by maximum likelihood on two circles and\n"
        "two moons. Each pair of rows shows the density and samples at 0%, 20%, ... 100%\n"
        "of the way from noise to data (flow time for the CNF, fraction of layers for the\n"
        "NF). Held-out NLL is in ``cnf_max_likelihood.csv``.",
        tables=(FIG5_FRAMES,),
        look="samples and densities of the CNF and the NF against the two-moons and "
        "two-circles data.",
        differs="the budget's training iterations and seeds against the paper's.",
    ),
)  # fmt: skip
#: Report category (a product's ``family``) -> its heading in Snakemake's HTML report.
CATEGORIES = {"cnf": "CNF"}
#: Modules of :mod:`odebench.products.claims` holding this family's claims, in report order.
CLAIMS = ("cnf",)
