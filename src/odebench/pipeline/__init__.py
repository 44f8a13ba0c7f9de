"""The pipeline: config (:mod:`~odebench.pipeline.config`) and what the DAG runs and
makes (:mod:`~odebench.pipeline.plan`); paths live in :mod:`odebench.core.paths`, run
families in :mod:`odebench.families`.

Imports neither torch nor matplotlib (a test checks), so ``snakemake -n`` and
``--lint`` stay quick: only torch-free modules of the other layers
(:mod:`odebench.products.registry`, :mod:`odebench.families` and the packages'
``family.py``, :mod:`odebench.core.artifacts`).
"""
