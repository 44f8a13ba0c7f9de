"""Every run family, in one registry: a new kind of training run is one entry here.

Each experiment package declares its run families in its torch-free ``family.py``
(:class:`odebench.core.family.RunFamily`); this module lists them in the report's
order. The planner, the generated training rules (``workflow/rules/train.smk``), the
cost model and the invocation's time per part read :data:`RUN_FAMILIES`.

Floor: above the experiment packages' descriptors, below the products and the pipeline.
Free of torch.
"""

from __future__ import annotations

from odebench.cnf import family as cnf
from odebench.core.family import RunFamily
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


def run_family(name: str) -> RunFamily:
    """The descriptor of run family ``name``; a ValueError lists the known ones."""
    if name not in RUN_FAMILIES:
        raise ValueError(f"unknown run family {name!r}; known: {', '.join(RUN_FAMILIES)}")
    return RUN_FAMILIES[name]
