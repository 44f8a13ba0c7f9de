"""Every experiment package, in one registry: a new family is one entry here.

Each experiment package declares, in its torch-free ``family.py``, its run families
(:class:`odebench.core.family.RunFamily`), its tables and figures
(:mod:`odebench.core.products`), their report categories and the modules of
:mod:`odebench.products.claims` that hold its claims; this module gathers them in the
report's order. The planner, the generated training rules (``workflow/rules/train.smk``),
the cost model and the invocation's time per part read :data:`RUN_FAMILIES`; the
products' registry (:mod:`odebench.products.registry`) reads :data:`TABLES`,
:data:`FIGURES` and :data:`CATEGORIES`, and the claims :data:`CLAIM_MODULES`.

Floor: above the experiment packages' descriptors, below the products and the pipeline.
Free of torch.
"""

from __future__ import annotations

from odebench.cnf import family as cnf
from odebench.core.family import RunFamily
from odebench.core.products import Figure, Table
from odebench.mnist import family as mnist
from odebench.spirals import family as spirals

_PACKAGES = (mnist, spirals, cnf)

#: Run family name -> its descriptor, in the report's order.
RUN_FAMILIES: dict[str, RunFamily] = {
    family.name: family for package in _PACKAGES for family in package.RUN_FAMILIES
}
#: Every rule of the experiment packages -> the part of the paper its time counts under.
RULE_PARTS: dict[str, str] = {
    **{family.rule: family.part for family in RUN_FAMILIES.values()},
    **{rule: part for package in _PACKAGES for rule, part in package.OTHER_RULES.items()},
}

#: Every table and every figure, by name, in report order.
TABLES: dict[str, Table] = {table.name: table for package in _PACKAGES for table in package.TABLES}
FIGURES: dict[str, Figure] = {
    figure.name: figure for package in _PACKAGES for figure in package.FIGURES
}
#: Report category -> its heading in Snakemake's HTML report.
CATEGORIES: dict[str, str] = {
    key: title for package in _PACKAGES for key, title in package.CATEGORIES.items()
}
#: Modules of odebench.products.claims, in the order of claims.csv's rows.
CLAIM_MODULES: tuple[str, ...] = tuple(name for package in _PACKAGES for name in package.CLAIMS)


def run_family(name: str) -> RunFamily:
    """The descriptor of run family ``name``; a ValueError lists the known ones."""
    if name not in RUN_FAMILIES:
        raise ValueError(f"unknown run family {name!r}; known: {', '.join(RUN_FAMILIES)}")
    return RUN_FAMILIES[name]
