"""What the Snakemake DAG runs for a config: its runs, their configs and outputs.

The rule files stay declarative by asking a :class:`Plan` for their inputs,
outputs and parameters; tests ask the same object, so the DAG and the tests
cannot disagree about which runs a budget contains.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from odebench.pipeline import config as configuration
from odebench.pipeline import paths
from odebench.products import figures
from odebench.products.tables import solver_studies as studies

#: Tables of the CNF family (``odebench.tables`` products) and the runs each summarises.
CNF_TABLE_FAMILIES = {
    "cnf_density_matching": "cnf_density",
    "cnf_max_likelihood": "cnf_likelihood",
    "trace_estimator": "cnf_trace",
}
#: Tables that Figures 4 and 5 draw, collected from the runs of the first seed.
CNF_FIGURE_TABLES = ("fig4_densities.csv", "fig5_frames.csv")


class Plan:
    """The runs and products of one validated config."""

    def __init__(self, config: dict[str, Any], schema: Path = configuration.SCHEMA):
        configuration.coerce_cli_values(config)
        configuration.validate(config, schema)
        self.run = configuration.resolve(config)
        self.budget: str = self.run["budget"]
        self.results = str(paths.budget_dir(self.budget))
        #: Output pattern of one MNIST run, with the rule's {arm} and {seed} wildcards.
        self.mnist_run_dir = str(paths.run_dir(self.budget, "mnist", "{arm}", "{seed}"))
        # `auto` is resolved where the DAG is planned; on a cluster whose head node
        # has no GPU, say `device: cuda` to request one.
        device = self.run["device"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.gpu = 1 if device == "cuda" else 0
        self.mnist_arms = [
            paths.arm_name(arm["model"], arm["tol"]) for arm in configuration.mnist_arms(self.run)
        ]
        #: Output pattern of one probe of a trained ODE-Net ({arm} and {seed} wildcards).
        self.probe_run_dir = str(paths.run_dir(self.budget, "probe", "{arm}", "{seed}"))
        #: The solver studies probe the ODE-Net of every training tolerance (Table 1's
        #: runs where they coincide: the same run directory is the same job).
        self.probe_arms = [paths.arm_name("odenet", float(t)) for t in self.run["tolerances"]]
        #: Output pattern of one Table 2 run ({arm} = ``<model>-n<n_obs>``, {seed}).
        self.spirals_run_dir = str(paths.run_dir(self.budget, "spirals", "{arm}", "{seed}"))
        spirals = self.run["spirals"]
        self.spirals_arms = [
            paths.spirals_arm(model, n) for model in spirals["models"] for n in spirals["n_obs"]
        ]
        self.spirals_data = str(paths.spirals_data(self.budget))
        cnf = self.run["cnf"]
        #: Output patterns of the CNF runs ({arm}, {seed}); arms as in :mod:`odebench.paths`.
        self.density_run_dir = str(paths.run_dir(self.budget, "cnf_density", "{arm}", "{seed}"))
        self.likelihood_run_dir = str(
            paths.run_dir(self.budget, "cnf_likelihood", "{arm}", "{seed}")
        )
        self.trace_run_dir = str(paths.run_dir(self.budget, "cnf_trace", "study", "{seed}"))
        density = cnf["density"]
        self.density_arms = [
            paths.density_arm(target, model, capacity)
            for target in density["targets"]
            for model in density["models"]
            for capacity in density["capacities"]
        ]
        likelihood = cnf["likelihood"]
        self.likelihood_arms = [
            paths.likelihood_arm(dataset, model)
            for dataset in likelihood["datasets"]
            for model in likelihood["models"]
        ]

    def mnist_run_config(self, wildcards: Any) -> str:
        """The resolved run config of ``{arm}/seed{seed}`` as JSON (a rule parameter)."""
        model, tol = paths.parse_arm(wildcards.arm)
        run = configuration.mnist_run(self.run, model, int(wildcards.seed), tol)
        return json.dumps(run, sort_keys=True)

    def seeds(self, family: str) -> list[int]:
        """Training seeds of ``family``: the CNF families may have more than the budget's."""
        if family.startswith("cnf_"):
            return self.run["cnf"]["seeds"]
        return self.run["seeds"]

    def run_dirs(self, family: str, arms: list[str]) -> list[str]:
        """Run directories of ``family`` for every arm and seed (arm-major order)."""
        return [
            str(paths.run_dir(self.budget, family, arm, seed))
            for arm in arms
            for seed in self.seeds(family)
        ]

    def mnist_metrics(self) -> list[str]:
        return [f"{run}/{paths.METRICS_JSON}" for run in self.run_dirs("mnist", self.mnist_arms)]

    def mnist_runtime_min(self) -> int:
        """Generous wall-time request of one training job, for cluster schedulers."""
        return 10 + 15 * self.run["mnist"]["epochs"]

    def probe_spec(self) -> str:
        """The budget's probe settings as JSON (a rule parameter)."""
        return json.dumps(self.run["solver_studies"]["probe"], sort_keys=True)

    def memory_spec(self) -> str:
        return json.dumps(self.run["solver_studies"]["memory"], sort_keys=True)

    def probe_dirs(self) -> list[str]:
        return self.run_dirs("probe", self.probe_arms)

    def probed_training_dirs(self) -> list[str]:
        """The training runs whose ODE-Nets are probed, in :meth:`probe_dirs` order."""
        return self.run_dirs("mnist", self.probe_arms)

    def study_tables(self) -> dict[str, str]:
        """The solver studies' tables by name (``memory_scaling`` has a rule of its own)."""
        tables = paths.tables_dir(self.budget)
        names = dict(studies.TABLES, memory_scaling="memory_scaling.csv")
        return {name: str(tables / csv) for name, csv in names.items()}

    def figure(self, name: str) -> str:
        return str(paths.figures_dir(self.budget) / f"{name}.png")

    def spirals_data_spec(self) -> str:
        return json.dumps(self.run["spirals"]["data"], sort_keys=True)

    def spirals_run_config(self, wildcards: Any) -> str:
        """The resolved run config of ``{arm}/seed{seed}`` of Table 2, as JSON."""
        model, n_obs = paths.parse_spirals_arm(wildcards.arm)
        run = configuration.spirals_run(self.run, model, n_obs, int(wildcards.seed))
        return json.dumps(run, sort_keys=True)

    def spirals_run_dirs(self) -> list[str]:
        return self.run_dirs("spirals", self.spirals_arms)

    def fig8_run_dirs(self) -> list[str]:
        """Figure 8's runs: the RNN and the latent ODE at the fewest observations, first seed."""
        spirals = self.run["spirals"]
        n_obs, seed = min(spirals["n_obs"]), self.run["seeds"][0]
        return [
            str(paths.run_dir(self.budget, "spirals", paths.spirals_arm(model, n_obs), seed))
            for model in ("rnn", "latent_ode")
            if model in spirals["models"]
        ]

    def spirals_runtime_min(self) -> int:
        return 10 + self.run["spirals"]["iterations"] // 20

    def density_run_config(self, wildcards: Any) -> str:
        """The resolved config of one Figure 4 run ``{arm}/seed{seed}``, as JSON."""
        target, model, capacity = paths.parse_density_arm(wildcards.arm)
        run = configuration.cnf_density_run(self.run, target, model, capacity, int(wildcards.seed))
        return json.dumps(run, sort_keys=True)

    def likelihood_run_config(self, wildcards: Any) -> str:
        """The resolved config of one Figure 5 run ``{arm}/seed{seed}``, as JSON."""
        dataset, model = paths.parse_likelihood_arm(wildcards.arm)
        run = configuration.cnf_likelihood_run(self.run, dataset, model, int(wildcards.seed))
        return json.dumps(run, sort_keys=True)

    def trace_spec(self) -> str:
        return json.dumps(configuration.cnf_trace_spec(self.run), sort_keys=True)

    def grid_spec(self) -> str:
        return json.dumps(self.run["cnf"]["grid"], sort_keys=True)

    def cnf_table_metrics(self, wildcards: Any) -> list[str]:
        """metrics.json of the runs that CNF table ``{table}`` summarises."""
        return self.cnf_metrics(CNF_TABLE_FAMILIES[wildcards.table])

    def cnf_metrics(self, family: str) -> list[str]:
        """metrics.json of every run of ``cnf_density``, ``cnf_likelihood`` or ``cnf_trace``."""
        arms = {"cnf_density": self.density_arms, "cnf_likelihood": self.likelihood_arms,
                "cnf_trace": ["study"]}[family]  # fmt: skip
        return [f"{run}/{paths.METRICS_JSON}" for run in self.run_dirs(family, arms)]

    def fig4_run_dirs(self) -> list[str]:
        """Figure 4 draws the learned densities of the first seed."""
        seed = self.seeds("cnf_density")[0]
        return [str(paths.run_dir(self.budget, "cnf_density", arm, seed))
                for arm in self.density_arms]  # fmt: skip

    def fig5_run_dirs(self) -> list[str]:
        seed = self.seeds("cnf_likelihood")[0]
        return [str(paths.run_dir(self.budget, "cnf_likelihood", arm, seed))
                for arm in self.likelihood_arms]  # fmt: skip

    def cnf_runtime_min(self, task: str) -> int:
        """Generous wall-time request of one CNF job, for cluster schedulers."""
        models = self.run["cnf"][task]["models"]
        return 10 + max(spec["iterations"] for spec in models.values()) // 50

    def table_outputs(self, name: str) -> dict[str, str]:
        """The csv, md and tex files of table ``name``, e.g. ``table1_mnist``."""
        prefix = paths.tables_dir(self.budget) / name
        return {ext: f"{prefix}.{ext}" for ext in ("csv", "md", "tex")}

    @property
    def latex(self) -> bool:
        """Whether the PDF report can be built here (``latexmk`` on the PATH)."""
        return shutil.which("latexmk") is not None

    def report_outputs(self) -> dict[str, str]:
        """The claims table and the report (and its PDF where LaTeX is available), which
        read every other target."""
        outputs = {
            "claims": str(paths.claims_csv(self.budget)),
            "report": str(paths.report_md(self.budget)),
        }
        if self.latex:
            outputs["pdf"] = str(paths.report_pdf(self.budget))
        return outputs

    def landing_page(self, default: str = "workflow/report/workflow.rst") -> str:
        """The HTML report's first page: the verdict table once the report rule wrote it."""
        landing = paths.report_landing(self.budget)
        return str(landing) if landing.is_file() else default

    def report_inputs(self) -> list[str]:
        """Every other target: a family's tables and figures join the report by joining
        :meth:`targets`, with no edit to the report's rules."""
        own = set(self.report_outputs().values())
        return [target for target in self.targets() if target not in own]

    def targets(self) -> list[str]:
        """Everything ``rule all`` asks for."""
        return [
            *self.report_outputs().values(),
            *self.table_outputs("table1_mnist").values(),
            *self.table_outputs("table2_spirals").values(),
            *self.study_tables().values(),
            str(paths.tables_dir(self.budget) / "fig8_trajectories.csv"),
            *(self.table_outputs(name)["csv"] for name in CNF_TABLE_FAMILIES),
            *(str(paths.tables_dir(self.budget) / name) for name in CNF_FIGURE_TABLES),
            *(self.figure(name) for name in figures.FIGURES),
        ]
