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

from collections.abc import Iterable

from odebench.cnf import family as cnf
from odebench.core.family import RunFamily
from odebench.core.products import Figure, Product, Table
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


def by_name(products: Iterable[Product]) -> dict[str, Product]:
    """``products`` keyed by name, in order; a name declared twice is a ValueError."""
    named: dict[str, Product] = {}
    for product in products:
        if product.name in named:
            raise ValueError(f"product {product.name!r} is declared twice")
        named[product.name] = product
    return named


#: Every table and every figure, by name, in report order.
TABLES: dict[str, Table] = by_name(t for package in _PACKAGES for t in package.TABLES)
FIGURES: dict[str, Figure] = by_name(f for package in _PACKAGES for f in package.FIGURES)
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
