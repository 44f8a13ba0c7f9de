"""Every table and figure the pipeline makes, declared once.

A :class:`Table` or :class:`Figure` names its product (the file stem), the experiment
family it belongs to, the builder that makes it (``"module:function"``, imported only
when the product is built, so this module stays free of torch and matplotlib), what it
reads, and its captions. Everything else reads this registry: the DAG's targets and its
one table rule and one figure rule (:mod:`odebench.pipeline.plan`), the captions of the
HTML report (``workflow/report/product.rst`` renders :attr:`Product.description`) and of
``report.md`` (:mod:`odebench.products.report`), and the claims, which name the tables
they read through the constants below.

Adding a product is one entry here plus its builder.

Builders:

- a table's builder is called as ``builder(inputs, reference, settings, out)``: ``inputs``
  maps each name of :attr:`Table.inputs` to its list of files, ``reference`` is
  ``paper/reference.yaml``, ``settings`` the config's :attr:`Table.settings`, ``out`` the csv
  to write; a table with ``documents`` also writes ``out``'s ``.md`` and ``.tex``.
- a figure's builder is called as ``builder(tables)`` with the tables it reads, as data
  frames keyed by product name, and returns a matplotlib figure.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from odebench.core import paths

#: Experiment family -> its category in Snakemake's HTML report.
FAMILIES = {
    "mnist": "Table 1: MNIST",
    "solver_studies": "Figure 3 and solver studies",
    "spirals": "Table 2: spirals",
    "cnf": "CNF",
}


@dataclass(frozen=True)
class RunFiles:
    """One file of each run of a run family, as the plan selects the runs.

    ``family`` is a run family of :meth:`odebench.pipeline.plan.Plan.run_dirs`
    (``mnist``, ``probe``, ``spirals``, ``cnf_density``, ...); ``select`` one of its
    selections (``all`` runs, the ``first_seed``, ``probed`` ODE-Nets, ``figure8``'s runs).
    """

    family: str
    file: str
    select: str = "all"


@dataclass(frozen=True)
class Product:
    name: str  # the file stem: tables/<name>.csv, figures/<name>.png
    family: str  # a key of FAMILIES
    builder: str | None  # "module:function"; None when a family's own rule writes it
    title: str  # the heading in report.md
    description: str  # the caption in Snakemake's HTML report (reStructuredText)

    @property
    def category(self) -> str:
        return FAMILIES[self.family]

    def load_builder(self) -> Callable[..., Any]:
        """The builder function (importing its module, which may need torch or matplotlib)."""
        if self.builder is None:
            raise ValueError(f"{self.name} is written by its family's own rule, not built")
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)


@dataclass(frozen=True)
class Table(Product):
    #: Input name -> the run files it reads.
    inputs: dict[str, RunFiles] = field(default_factory=dict)
    #: Names of settings of the resolved config the builder needs (Plan.table_settings).
    settings: tuple[str, ...] = ()
    #: Whether the builder writes a readable ``.md`` (with notes) and a ``.tex`` beside the csv.
    documents: bool = False

    @property
    def csv(self) -> str:
        return f"{self.name}.csv"

    @property
    def files(self) -> tuple[str, ...]:
        suffixes = (".csv", ".md", ".tex") if self.documents else (".csv",)
        return tuple(self.name + suffix for suffix in suffixes)


@dataclass(frozen=True)
class Figure(Product):
    #: The tables it draws from.
    tables: tuple[Table, ...] = ()
    #: report.md's caption: what to look at, and how the setup differs from the paper's.
    look: str = ""
    differs: str = ""

    @property
    def png(self) -> str:
        return f"{self.name}.png"


_METRICS = paths.METRICS_JSON
_TABLES = "odebench.products.tables"

# -- Table 1 and Figure 3 (MNIST) --------------------------------------------------------

TABLE1 = Table(
    "table1_mnist", "mnist", f"{_TABLES}.mnist:build", "Table 1: MNIST",
    "Table 1 of Chen et al. (2018), reproduced: MNIST test error (mean and std over\n"
    "seeds), parameter count, activation memory of one training step, and NFE per\n"
    "batch for the 1-layer MLP, ResNet, RK-Net, ODE-Net and the stem-only ablation,\n"
    "with the paper's numbers in their own columns. The test error is taken at the\n"
    "epoch of lowest validation error. See the ``.md`` beside this table for notes on\n"
    "what differs from the paper and why.",
    inputs={"metrics": RunFiles("mnist", _METRICS)}, documents=True,
)  # fmt: skip
MEMORY_SCALING = Table(
    "memory_scaling", "solver_studies", None, "Activation memory against depth",
    "Bytes saved for backward and peak RSS of one training step of the ODE block (adjoint\n"
    "and direct backpropagation over rk4 steps) and of residual blocks, against depth, each\n"
    "measured in a fresh process (``python -m odebench.mnist.memory_scaling``).",
)  # fmt: skip
_PROBES = RunFiles("probe", paths.SWEEP_CSV)
WORK_PRECISION = Table(
    "work_precision", "solver_studies", f"{_TABLES}.solver_studies:build_work_precision",
    "Work precision",
    "Per training tolerance, test-time solver setting and solver backend: forward NFE, wall\n"
    "time of the ODE block's solve (one solve per seed), its error against a float64\n"
    "reference solve, and test error, over seeds (probes of the trained ODE-Nets).\n"
    "``backend`` says whose step-size control took the steps: ``torchdiffeq`` and ``lean``\n"
    "(torchdiffeq's methods, less bookkeeping) take one step size for the whole batch, as in\n"
    "the paper; ``torchode`` controls each sample's step size and error on its own, so a\n"
    "batch costs the NFE of its hardest sample. Probes made before the column existed\n"
    "read as ``torchdiffeq``.",
    inputs={"sweeps": _PROBES},
)  # fmt: skip
TIME_VS_NFE = Table(
    "time_vs_nfe", "solver_studies", f"{_TABLES}.solver_studies:build_time_vs_nfe",
    "Time against NFE",
    "Least-squares line of the block's solve time on its NFE, per training tolerance,\n"
    "solver and backend (joint step-size control: ``torchdiffeq``, ``lean``; per-sample:\n"
    "``torchode``), with its R².",
    inputs={"sweeps": _PROBES},
)  # fmt: skip
NFE_BACKWARD_VS_FORWARD = Table(
    "nfe_backward_vs_forward", "solver_studies",
    f"{_TABLES}.solver_studies:build_nfe_backward_vs_forward", "Backward against forward NFE",
    "The adjoint's backward NFE against its forward NFE: every training step of the probed\n"
    "ODE-Nets, and one-image solves with the final weights for dopri5 and scipy's LSODA.\n"
    "``dopri5+seminorm`` is dopri5's full adjoint with the seminorm (Kidger, Chen & Lyons,\n"
    "2021: the parameters' adjoint left out of the backward solve's error norm); beside\n"
    "``dopri5`` (torchdiffeq's full norm) at the same training tolerance and forward NFE it\n"
    "shows the backward evaluations the seminorm saves.",
    inputs={"steps": RunFiles("mnist", paths.STEPS_CSV, "probed"),
            "probes": RunFiles("probe", paths.BACKWARD_NFE_CSV)},
)  # fmt: skip
NFE_OVER_TRAINING = Table(
    "nfe_over_training", "solver_studies", f"{_TABLES}.solver_studies:build_nfe_over_training",
    "NFE over training",
    "Forward and backward NFE per training batch, averaged over windows of each epoch, per\n"
    "training tolerance, over seeds.",
    inputs={"steps": RunFiles("mnist", paths.STEPS_CSV, "probed")},
    settings=("training_bins_per_epoch",),
)  # fmt: skip
REVERSIBILITY = Table(
    "reversibility", "solver_studies", f"{_TABLES}.solver_studies:build_reversibility",
    "Reversibility",
    "Relative error of solving 0 → 1 → 0, and of the adjoint's parameter gradients against\n"
    "backpropagation through the same solver, per training and solve tolerance.",
    inputs={"probes": RunFiles("probe", paths.REVERSIBILITY_CSV)},
)  # fmt: skip

# -- Table 2 and Figure 8 (spirals) ------------------------------------------------------

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

# -- Figures 4 and 5, FFJORD (CNF) -------------------------------------------------------

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
    "(first seed).",
    inputs={"grids": RunFiles("cnf_density", paths.GRID_CSV, "first_seed")}, settings=("grid",),
)  # fmt: skip
FIG5_FRAMES = Table(
    "fig5_frames", "cnf", "odebench.products.figure_data:flow_frames", "Figure 5's frames",
    "Figure 5's data: samples and densities along each flow, from noise to data (first seed).",
    inputs={"frames": RunFiles("cnf_likelihood", paths.FRAMES_CSV, "first_seed")},
)  # fmt: skip

#: Every table, in report order (families in the order of FAMILIES).
TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        TABLE1, MEMORY_SCALING, WORK_PRECISION, TIME_VS_NFE, NFE_BACKWARD_VS_FORWARD,
        NFE_OVER_TRAINING, REVERSIBILITY, TABLE2, FIG8_TRAJECTORIES, CNF_DENSITY_MATCHING,
        CNF_MAX_LIKELIHOOD, TRACE_ESTIMATOR, FIG4_DENSITIES, FIG5_FRAMES,
    )
}  # fmt: skip

# -- figures ------------------------------------------------------------------------------

#: The figure builders' modules, one per family (see :mod:`odebench.products.figures`).
_STUDIES = "odebench.products.figures.solver_studies"
_SPIRALS = "odebench.products.figures.spirals"
_CNF = "odebench.products.figures.cnf"

#: Every figure, in report order.
FIGURES: dict[str, Figure] = {
    figure.name: figure
    for figure in (
        Figure(
            "fig3a_nfe_vs_error", "solver_studies", f"{_STUDIES}:fig3a_nfe_vs_error",
            "Figure 3a: NFE against numerical error",
            "Figure 3a of the paper, measured: forward NFE of trained ODE-Nets against the\n"
            "numerical error of the ODE block's output as the test-time dopri5 tolerance\n"
            "sweeps. The error is relative to a float64 dopri5 solve at a much tighter\n"
            "tolerance (``reference_tol`` in config.yaml). One line per training tolerance;\n"
            "bands are ± one std over seeds. Only torchdiffeq's joint step-size control\n"
            "(backends torchdiffeq, lean), the paper's. Look for the error to fall as NFE rises.",
            tables=(WORK_PRECISION,),
            look="the error of the ODE block's solve should fall as the solver spends more "
            "evaluations, one line per training tolerance.",
            differs="dopri5 from torchdiffeq at test time (the paper: LSODE's implicit Adams); "
            "error against a much tighter float64 reference solve on a subset of the test "
            "images.",
        ),
        Figure(
            "fig3b_time_vs_nfe", "solver_studies", f"{_STUDIES}:fig3b_time_vs_nfe",
            "Figure 3b: time against NFE",
            "Figure 3b of the paper, measured: wall time of the ODE block's forward solve\n"
            "(dopri5) against its NFE, with a least-squares line per training tolerance and\n"
            "its R² (``time_vs_nfe.csv``), with torchdiffeq's joint step-size control\n"
            "(backends torchdiffeq, lean). Time proportional to NFE means the solver's own\n"
            "overhead is small next to the network evaluations. Timings are single solves\n"
            "on one machine in one process; compare them only with each other.",
            tables=(WORK_PRECISION, TIME_VS_NFE),
            look="points on a straight line through the origin mean time is proportional to "
            "NFE.",
            differs="CPU wall time of the block's solve on a batch of test images; compare "
            "slopes only within this run.",
        ),
        Figure(
            "fig3c_nfe_backward_vs_forward", "solver_studies",
            f"{_STUDIES}:fig3c_nfe_backward_vs_forward", "Figure 3c: backward against forward NFE",
            "Figure 3c of the paper, measured: adjoint backward NFE against forward NFE.\n"
            "Circles: every training step (dopri5, batch of the training run, parameters'\n"
            "adjoint included), area proportional to the number of steps. Markers with a\n"
            "black edge: one image at a time with the final weights, for dopri5 and for\n"
            "scipy's LSODA (the paper's solver family); LSODA can only integrate the state's\n"
            "adjoint (see the README). Downward triangles, where the probes ran that arm:\n"
            "dopri5's full adjoint with the seminorm (the parameters' adjoint out of the\n"
            "backward solve's error norm), beside the squares of torchdiffeq's full norm: the\n"
            "backward NFE it saves. The dashed line is the paper's claim, backward ≈ half of\n"
            "forward.",
            tables=(NFE_BACKWARD_VS_FORWARD,),
            look="the paper's points lie near half the forward NFE; ours are compared with "
            "that line.",
            differs="training steps of the adjoint ODE-Net with dopri5, and one-image solves "
            "with scipy's LSODA (state adjoint only, for memory) beside dopri5, and, where the "
            "probes ran it, dopri5 with the adjoint's seminorm (Kidger et al., 2021, after the "
            "paper).",
        ),
        Figure(
            "fig3d_nfe_over_training", "solver_studies", f"{_STUDIES}:fig3d_nfe_over_training",
            "Figure 3d: NFE over training",
            "Figure 3d of the paper, measured: forward NFE per training batch over\n"
            "training, averaged over windows of each epoch, one line per training\n"
            "tolerance (bands ± std over seeds). The paper reports NFE rising as training\n"
            "goes on.",
            tables=(NFE_OVER_TRAINING,),
            look="the paper's forward NFE rises during training.",
            differs="the budget's few epochs (see Provenance) against the paper's full "
            "schedule.",
        ),
        Figure(
            "memory_scaling", "solver_studies", f"{_STUDIES}:memory_scaling",
            "Activation memory against depth",
            "The memory column of Table 1 (O(1) adjoint, O(L~) direct backprop, O(L) ResNet),\n"
            "measured: bytes saved for backward in one training step of the depth-dependent\n"
            "part (ODE block or residual blocks, plus the head) against depth, and the peak\n"
            "RSS of a fresh process running that step. Depth is the number of rk4 steps of\n"
            "the ODE block (NFE = 4 x steps) or the number of residual blocks.",
            tables=(MEMORY_SCALING,),
            look="the adjoint's bytes saved for backward stay flat while direct "
            "backpropagation and the ResNet grow with depth (Table 1's memory column).",
            differs="counted exactly with saved-tensor hooks on one training step with a "
            "fixed-step solver (the paper states complexities, not measurements).",
        ),
        Figure(
            "work_precision", "solver_studies", f"{_STUDIES}:work_precision",
            "Work-precision diagram",
            "Work-precision diagram of a trained ODE-Net's ODE block: numerical error\n"
            "against forward solve time and against NFE, and test error against NFE, for\n"
            "adaptive solvers (dopri5, bosh3, adaptive_heun over tolerances) and fixed-grid\n"
            "solvers (rk4, midpoint, euler over step counts). This is the paper's \"trade\n"
            "precision for speed at test time\": how far can NFE fall before the test error\n"
            "moves? Markers tell the backends apart: filled, torchdiffeq's joint step-size\n"
            "control (one step size for the whole batch); hollow, torchode's per-sample\n"
            "control (each image meets the tolerance on its own, the batch costs the NFE of\n"
            "its hardest image).",
            tables=(WORK_PRECISION,),
            look="numerical error against NFE for every test-time solver; lower and further "
            "left is cheaper for the same precision. Hollow markers: per-sample step-size "
            "control (torchode) against the joint control of the filled ones.",
            differs="not in the paper: every torchdiffeq solver of the probe, and torchode's "
            "per-sample step-size control where the probe ran it, applied to the trained "
            "ODE-Nets.",
        ),
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
    )
}  # fmt: skip

#: The built tables, i.e. every table but those a family's own rule writes.
BUILT_TABLES = {name: table for name, table in TABLES.items() if table.builder is not None}


def lookup(products: dict[str, Product], name: str) -> Product:
    """``products[name]``; an unknown name fails with the list of known ones."""
    if name not in products:
        raise ValueError(f"unknown product {name!r}; known: {', '.join(products)}")
    return products[name]
