"""The pipeline: config (:mod:`~odebench.pipeline.config`), what the DAG runs and makes
(:mod:`~odebench.pipeline.plan`) and every path (:mod:`~odebench.core.paths`).

Imports neither torch nor matplotlib (a test checks), so ``snakemake -n`` and
``--lint`` stay quick: only torch-free modules of the other layers
(:mod:`odebench.products.registry`, :mod:`odebench.mnist.arms`,
:mod:`odebench.core.artifacts`).
"""
