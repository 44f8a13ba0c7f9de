"""What the Snakemake DAG runs for a config: its runs, their configs, its products.

The rule files stay declarative by asking a :class:`Plan` for their inputs, outputs and
parameters; tests ask the same object, so the DAG and the tests cannot disagree about
which runs a budget contains. Products come from :mod:`odebench.products.registry`: one
table rule and one figure rule serve every entry.

Free of torch (``snakemake -n`` imports this module): a run's config is built here as
JSON and handed to its family's entry point with ``--run-config``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from odebench.core import paths
from odebench.pipeline import config as configuration
from odebench.products import registry

#: Where in the resolved config each name a table may list in ``Table.settings`` lives.
TABLE_SETTINGS: dict[str, tuple[str, ...]] = {
    "training_bins_per_epoch": ("solver_studies", "training_bins_per_epoch"),
    "grid": ("cnf", "grid"),
}


#: The models Figure 8 draws, in panel order.
FIGURE8_MODELS = ("rnn", "rnn_dt", "latent_ode")


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def _cuda_available() -> bool:
    import torch  # only for `device: auto`; every other config plans without torch

    return torch.cuda.is_available()


class Plan:
    """The runs and products of one validated config."""

    def __init__(self, config: dict[str, Any], schema: Path = configuration.SCHEMA):
        configuration.coerce_cli_values(config)
        configuration.validate(config, schema)
        self.run = configuration.resolve(config)
        self.budget: str = self.run["budget"]
        self.results = str(paths.budget_dir(self.budget))
        # `auto` is resolved where the DAG is planned; on a cluster whose head node
        # has no GPU, say `device: cuda` to request one.
        device = self.run["device"]
        if device == "auto":
            device = "cuda" if _cuda_available() else "cpu"
        self.gpu = 1 if device == "cuda" else 0
        spirals, cnf = self.run["spirals"], self.run["cnf"]
        density, likelihood = cnf["density"], cnf["likelihood"]
        #: Run family -> its arms, in the order tables list them.
        self.arms: dict[str, list[str]] = {
            "mnist": [paths.arm_name(arm["model"], arm["tol"])
                      for arm in configuration.mnist_arms(self.run)],
            # The solver studies probe the ODE-Net of every training tolerance (Table 1's
            # runs where they coincide: the same run directory is the same job).
            "probe": [paths.arm_name("odenet", float(t)) for t in self.run["tolerances"]],
            "spirals": [paths.spirals_arm(model, n)
                        for model in spirals["models"] for n in spirals["n_obs"]],
            "cnf_density": [paths.density_arm(target, model, capacity)
                            for target in density["targets"] for model in density["models"]
                            for capacity in density["capacities"]],
            "cnf_likelihood": [paths.likelihood_arm(dataset, model)
                               for dataset in likelihood["datasets"]
                               for model in likelihood["models"]],
            "cnf_trace": ["study"],
        }  # fmt: skip
        #: Run family -> function(wildcards) giving a run's complete config.
        self._run_configs: dict[str, Callable[[Any], dict[str, Any]]] = {
            "mnist": self._mnist_run,
            "probe": lambda w: configuration.probe_run(self.run, w.arm, int(w.seed)),
            "spirals": self._spirals_run,
            "cnf_density": self._density_run,
            "cnf_likelihood": self._likelihood_run,
            "cnf_trace": lambda w: configuration.cnf_trace_run(self.run, int(w.seed)),
        }
        #: Selection name -> function(family) giving (arm, seed) pairs (RunFiles.select).
        self._selections: dict[str, Callable[[str], list[tuple[str, int]]]] = {
            "all": lambda family: [(a, s) for a in self.arms[family] for s in self.seeds(family)],
            "first_seed": lambda family: [(a, self.seeds(family)[0]) for a in self.arms[family]],
            "probed": lambda family: [(a, s) for a in self.arms["probe"]
                                      for s in self.seeds(family)],
            "figure8": self._figure8_runs,
        }  # fmt: skip
        self.spirals_data = str(paths.spirals_data(self.budget))

    # -- runs ---------------------------------------------------------------------------

    def run_dir(self, family: str) -> str:
        """Output pattern of one run of ``family``, with the rules' {arm} and {seed} wildcards."""
        arm = "study" if family == "cnf_trace" else "{arm}"
        return str(paths.run_dir(self.budget, family, arm, "{seed}"))

    def seeds(self, family: str) -> list[int]:
        """Training seeds of ``family``: the CNF and spirals runs may have more than the
        budget's."""
        if family.startswith("cnf_"):
            return self.run["cnf"]["seeds"]
        if family == "spirals":
            return self.run["spirals"]["seeds"]
        return self.run["seeds"]

    def run_dirs(self, family: str, select: str = "all") -> list[str]:
        """Run directories of ``family`` (arm-major order) in selection ``select``."""
        if select not in self._selections:
            raise ValueError(f"unknown run selection {select!r}; known: "
                             f"{', '.join(self._selections)}")  # fmt: skip
        return [str(paths.run_dir(self.budget, family, arm, seed))
                for arm, seed in self._selections[select](family)]  # fmt: skip

    def run_files(self, files: registry.RunFiles) -> list[str]:
        return [f"{run}/{files.file}" for run in self.run_dirs(files.family, files.select)]

    def run_config(self, family: str) -> Callable[[Any], str]:
        """A rule parameter: the complete run config of ``{arm}/seed{seed}`` as JSON."""
        build = self._run_configs[family]
        return lambda wildcards: _json(build(wildcards))

    def spirals_data_config(self) -> str:
        return _json(configuration.spirals_data_run(self.run))

    def memory_config(self) -> str:
        return _json(configuration.memory_run(self.run))

    def _mnist_run(self, wildcards: Any) -> dict[str, Any]:
        model, tol = paths.parse_arm(wildcards.arm)
        return configuration.mnist_run(self.run, model, int(wildcards.seed), tol)

    def _spirals_run(self, wildcards: Any) -> dict[str, Any]:
        model, n_obs = paths.parse_spirals_arm(wildcards.arm)
        return configuration.spirals_run(self.run, model, n_obs, int(wildcards.seed))

    def _density_run(self, wildcards: Any) -> dict[str, Any]:
        target, model, capacity = paths.parse_density_arm(wildcards.arm)
        return configuration.cnf_density_run(self.run, target, model, capacity,
                                             int(wildcards.seed))  # fmt: skip

    def _likelihood_run(self, wildcards: Any) -> dict[str, Any]:
        dataset, model = paths.parse_likelihood_arm(wildcards.arm)
        return configuration.cnf_likelihood_run(self.run, dataset, model, int(wildcards.seed))

    def _figure8_runs(self, family: str) -> list[tuple[str, int]]:
        """Figure 8's runs: both RNNs and the latent ODE at the fewest and the most
        observations, first seed (the paper draws its figure at several n)."""
        spirals = self.run["spirals"]
        counts = sorted({min(spirals["n_obs"]), max(spirals["n_obs"])})
        return [(paths.spirals_arm(model, n_obs), self.seeds(family)[0])
                for n_obs in counts for model in FIGURE8_MODELS
                if model in spirals["models"]]  # fmt: skip

    def runtime_min(self, family: str) -> int:
        """Generous wall-time request of one training job, for cluster schedulers."""
        if family == "mnist":
            return 10 + 15 * self.run["mnist"]["epochs"]
        if family == "spirals":
            return 10 + self.run["spirals"]["iterations"] // 20
        models = self.run["cnf"][family.removeprefix("cnf_")]["models"]
        return 10 + max(spec["iterations"] for spec in models.values()) // 50

    # -- products -----------------------------------------------------------------------

    def table(self, name: str) -> str:
        """The csv of table ``name``."""
        return str(paths.tables_dir(self.budget) / registry.TABLES[name].csv)

    def table_files(self, name: str) -> list[str]:
        """Every file of table ``name`` (the csv, and its .md and .tex where it has them)."""
        tables = paths.tables_dir(self.budget)
        return [str(tables / file) for file in registry.TABLES[name].files]

    def figure(self, name: str) -> str:
        return str(paths.figures_dir(self.budget) / registry.FIGURES[name].png)

    def table_inputs(self, wildcards: Any) -> dict[str, list[str]]:
        """Input name -> files of table ``{table}`` (a rule's ``unpack``-ed input)."""
        table = registry.TABLES[wildcards.table]
        return {name: self.run_files(files) for name, files in table.inputs.items()}

    def table_settings(self, wildcards: Any) -> str:
        """The settings that table ``{table}``'s builder needs, as JSON (a rule parameter)."""
        settings = {}
        for name in registry.TABLES[wildcards.table].settings:
            value: Any = self.run
            for key in TABLE_SETTINGS[name]:
                value = value[key]
            settings[name] = value
        return _json(settings)

    def figure_inputs(self, wildcards: Any) -> list[str]:
        """The csv files figure ``{figure}`` draws from."""
        return [self.table(table.name) for table in registry.FIGURES[wildcards.figure].tables]

    @staticmethod
    def names(products: dict[str, Any], **where: Any) -> str:
        """A wildcard constraint: the names of ``products`` whose attributes match ``where``."""
        return "|".join(
            name for name, product in products.items()
            if all(getattr(product, key) == value for key, value in where.items())
        )  # fmt: skip

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
        """Every table and figure: a product joins the report by joining the registry, with
        no edit to the report's rules."""
        return [
            *(file for name in registry.TABLES for file in self.table_files(name)),
            *(self.figure(name) for name in registry.FIGURES),
        ]

    def reference(self) -> Path | None:
        """The committed reference run of this budget (``reference/<budget>/``), if any."""
        reference = paths.reference_dir(self.budget)
        return reference if (reference / "claims.csv").is_file() else None

    def comparison_outputs(self) -> list[str]:
        """This run against the committed reference (the DAG's last rule), where one exists."""
        if self.reference() is None:
            return []
        return [str(paths.comparison_md(self.budget)), str(paths.comparison_csv(self.budget))]

    def reference_inputs(self) -> list[str]:
        """The reference run's files the comparison reads: its claims and its tables."""
        reference = self.reference()
        if reference is None:
            return []
        tables = sorted((reference / "tables").glob("*.csv"))
        return [str(reference / "claims.csv"), *map(str, tables)]

    def targets(self) -> list[str]:
        """Everything ``rule all`` asks for."""
        return [
            *self.report_outputs().values(),
            *self.report_inputs(),
            *self.comparison_outputs(),
        ]
