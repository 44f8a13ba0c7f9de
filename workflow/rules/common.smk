# Shared by every rule file: the validated config and the plan of runs and products.
import json
import shutil
import sys
from pathlib import Path

from odebench.core import paths
from odebench.pipeline.config import ConfigError
from odebench.pipeline.plan import Plan
from odebench.products import registry

# Validate before anything runs: one line naming the bad key, nothing written.
try:
    PLAN = Plan(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ConfigError as err:
    sys.exit(f"odebench: {err}")

RESULTS = PLAN.results
