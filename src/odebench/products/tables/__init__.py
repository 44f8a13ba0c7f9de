"""Tables as code: one function per product, reading only the runs' metrics.

Each table writes ``<prefix>.csv`` (tidy, raw numbers, one row per arm),
``<prefix>.md`` (readable on its own, with notes) and ``<prefix>.tex``.
The functions sit in one module per experiment family (:mod:`~odebench.products.tables.mnist`,
:mod:`~odebench.products.tables.spirals`, :mod:`~odebench.products.tables.cnf`),
the helpers they share in :mod:`~odebench.products.tables.formatting`.

Each is built through :mod:`odebench.products.registry` (``python -m odebench.products
table NAME ...``).
"""

from __future__ import annotations

from odebench.products.tables.cnf import cnf_density_matching, cnf_max_likelihood, trace_estimator
from odebench.products.tables.formatting import (
    MIB,
    fmt,
    latex_table,
    load_reference,
    markdown_document,
    markdown_table,
    mean_std,
    write_product,
)
from odebench.products.tables.mnist import (
    TABLE1_METRICS,
    table1,
    table1_frame,
    table1_latex,
    table1_markdown,
)
from odebench.products.tables.spirals import (
    TABLE2_METRICS,
    table2,
    table2_frame,
    table2_latex,
    table2_markdown,
)

__all__ = [
    "MIB", "TABLE1_METRICS", "TABLE2_METRICS", "cnf_density_matching",
    "cnf_max_likelihood", "fmt", "latex_table", "load_reference", "markdown_document",
    "markdown_table", "mean_std", "table1", "table1_frame", "table1_latex", "table1_markdown",
    "table2", "table2_frame", "table2_latex", "table2_markdown", "trace_estimator",
    "write_product",
]  # fmt: skip
