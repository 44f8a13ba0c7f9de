"""Every table and figure the pipeline makes, looked up in one place.

Each experiment package declares its products in its ``family.py``
(:class:`~odebench.core.products.Table`, :class:`~odebench.core.products.Figure`: name,
report category, builder, inputs, captions; see :mod:`odebench.core.products` for how a
builder is called), and :mod:`odebench.families` gathers them. Everything else reads
them here: the DAG's targets and its one table rule and one figure rule
(:mod:`odebench.pipeline.plan`), the captions of the HTML report
(``workflow/report/product.rst`` renders :attr:`Product.description`) and of
``report.md`` (:mod:`odebench.products.report`), and the claims, which name the tables
they read through the constants below.

Adding a product is one entry in its family's ``family.py`` plus its builder.
"""

from __future__ import annotations

from odebench import families
from odebench.core.products import Figure, Product, RunFiles, Table

__all__ = [
    "BUILT_TABLES", "CNF_DENSITY_MATCHING", "CNF_MAX_LIKELIHOOD", "FAMILIES", "FIG4_DENSITIES",
    "FIG5_FRAMES", "FIG8_TRAJECTORIES", "FIGURES", "MEMORY_SCALING", "NFE_BACKWARD_VS_FORWARD",
    "NFE_OVER_TRAINING", "REVERSIBILITY", "TABLE1", "TABLE2", "TABLES", "TIME_VS_NFE",
    "TRACE_ESTIMATOR", "WORK_PRECISION", "Figure", "Product", "RunFiles", "Table", "category",
    "lookup",
]  # fmt: skip

#: Report category -> its heading in Snakemake's HTML report.
FAMILIES: dict[str, str] = families.CATEGORIES
#: Every table, in report order (the families in the order of odebench.families).
TABLES: dict[str, Table] = families.TABLES
#: Every figure, in report order.
FIGURES: dict[str, Figure] = families.FIGURES

# The tables the claims and the rules name.
TABLE1 = TABLES["table1_mnist"]
MEMORY_SCALING = TABLES["memory_scaling"]
WORK_PRECISION = TABLES["work_precision"]
TIME_VS_NFE = TABLES["time_vs_nfe"]
NFE_BACKWARD_VS_FORWARD = TABLES["nfe_backward_vs_forward"]
NFE_OVER_TRAINING = TABLES["nfe_over_training"]
REVERSIBILITY = TABLES["reversibility"]
TABLE2 = TABLES["table2_spirals"]
FIG8_TRAJECTORIES = TABLES["fig8_trajectories"]
CNF_DENSITY_MATCHING = TABLES["cnf_density_matching"]
CNF_MAX_LIKELIHOOD = TABLES["cnf_max_likelihood"]
TRACE_ESTIMATOR = TABLES["trace_estimator"]
FIG4_DENSITIES = TABLES["fig4_densities"]
FIG5_FRAMES = TABLES["fig5_frames"]

#: The built tables, i.e. every table but those a family's own rule writes.
BUILT_TABLES = {name: table for name, table in TABLES.items() if table.builder is not None}


def lookup(products: dict[str, Product], name: str) -> Product:
    """``products[name]``; an unknown name fails with the list of known ones."""
    if name not in products:
        raise ValueError(f"unknown product {name!r}; known: {', '.join(products)}")
    return products[name]


def category(product: Product) -> str:
    """The heading of ``product``'s report category in Snakemake's HTML report."""
    return FAMILIES[product.family]
