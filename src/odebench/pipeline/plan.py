"""What the Snakemake DAG runs for a config: its runs, their configs, its products.

The rule files stay declarative by asking a :class:`Plan` for their inputs, outputs and
parameters; tests ask the same object, so the DAG and the tests cannot disagree about
which runs a budget contains. Runs come from the run families' descriptors
(:mod:`odebench.families`): one generated training rule serves each. Products come from
:mod:`odebench.products.registry`: one table rule and one figure rule serve every entry.

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
from odebench.core.family import RunFamily
from odebench.families import RUN_FAMILIES, run_family
from odebench.mnist import family as mnist_family
from odebench.pipeline import config as configuration
from odebench.products import registry
from odebench.spirals import family as spirals_family

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
        #: Run family -> its arms, in the order tables list them.
        self.arms: dict[str, list[str]] = {
            name: family.arms(self.run) for name, family in RUN_FAMILIES.items()
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
        arm = run_family(family).fixed_arm or "{arm}"
        return str(paths.run_dir(self.budget, family, arm, "{seed}"))

    def seeds(self, family: str) -> list[int]:
        """Training seeds of ``family``: the CNF and spirals runs may have more than the
        budget's."""
        return run_family(family).seeds(self.run)

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
        spec = run_family(family)
        return lambda wildcards: _json(
            spec.run_config(
                self.run, getattr(wildcards, "arm", spec.fixed_arm), int(wildcards.seed)
            )
        )

    def spirals_data_config(self) -> str:
        return _json(spirals_family.spirals_data_run(self.run))

    def memory_config(self) -> str:
        return _json(mnist_family.memory_run(self.run))

    # -- the generated training rules (workflow/rules/train.smk) --------------------------

    def run_families(self) -> list[RunFamily]:
        """Every run family, each made by one generated rule."""
        return list(RUN_FAMILIES.values())

    def run_outputs(self, family: str) -> dict[str, str]:
        """The training rule's outputs: name -> file of the run directory pattern."""
        run = self.run_dir(family)
        return {name: f"{run}/{file}" for name, file in run_family(family).outputs.items()}

    def run_log(self, family: str) -> str:
        return f"{self.run_dir(family)}/{run_family(family).log}"

    def run_inputs(self, family: str) -> dict[str, str]:
        return run_family(family).inputs(self.run)

    def threads(self, family: str) -> int:
        return run_family(family).job_threads(self.run)

    def gpus(self, family: str) -> int:
        """GPUs one job of ``family`` requests (one where it trains on a GPU)."""
        return self.gpu if run_family(family).on_device else 0

    def _figure8_runs(self, family: str) -> list[tuple[str, int]]:
        """Figure 8's runs: both RNNs and the latent ODE at the fewest and the most
        observations, first seed (the paper draws its figure at several n)."""
        spirals = self.run["spirals"]
        counts = sorted({min(spirals["n_obs"]), max(spirals["n_obs"])})
        return [(spirals_family.spirals_arm(model, n_obs), self.seeds(family)[0])
                for n_obs in counts for model in FIGURE8_MODELS
                if model in spirals["models"]]  # fmt: skip

    def runtime_min(self, family: str) -> int:
        """Generous wall-time request of one training job, for cluster schedulers."""
        return run_family(family).runtime_min(self.run)

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
