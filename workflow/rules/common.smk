# Shared by every rule file: the validated config and the plan of runs and products.
import sys
from pathlib import Path

from odebench.products import figures

from odebench.pipeline import paths
from odebench.pipeline.config import ConfigError
from odebench.pipeline.plan import CNF_TABLE_FAMILIES, Plan

# Validate before anything runs: one line naming the bad key, nothing written.
try:
    PLAN = Plan(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ConfigError as err:
    sys.exit(f"odebench: {err}")

RESULTS = PLAN.results
SOLVER_STUDY_FIGURES = figures.family_figures("solver_studies")
SPIRALS_FIGURES = figures.family_figures("spirals")
CNF_FIGURES = figures.family_figures("cnf")
