"""What a product is: a table or a figure the pipeline makes, and the run files it reads.

Each experiment package declares its products beside its run families, in its torch-free
``family.py`` (``TABLES``, ``FIGURES``); :mod:`odebench.families` gathers them and
:mod:`odebench.products.registry` is how the rest of the project looks them up.

A :class:`Table` or :class:`Figure` names its product (the file stem), its report
category, the builder that makes it (``"module:function"``, imported only when the
product is built, so a declaration stays free of torch and matplotlib), what it reads,
and its captions.

Builders:

- a table's builder is called as ``builder(inputs, reference, settings, out)``: ``inputs``
  maps each name of :attr:`Table.inputs` to its list of files, ``reference`` is
  ``paper/reference.yaml``, ``settings`` the config's :attr:`Table.settings`, ``out`` the csv
  to write; a table with ``documents`` also writes ``out``'s ``.md`` and ``.tex``.
- a figure's builder is called as ``builder(tables)`` with the tables it reads, as data
  frames keyed by product name, and returns a matplotlib figure.

Floor: core. Free of torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunFiles:
    """One file of each run of a run family, as the plan selects the runs.

    ``family`` is a run family of :meth:`odebench.pipeline.plan.Plan.run_dirs`
    (``mnist``, ``probe``, ``spirals``, ``cnf_density``, ...); ``select`` one of its
    selections (``all`` runs, the ``first_seed``, ``probed`` ODE-Nets, ``figure8``'s runs).
    """

    family: str
    file: str
    select: str = "all"


@dataclass(frozen=True)
class Product:
    name: str  # the file stem: tables/<name>.csv, figures/<name>.png
    family: str  # its report category: a key of a package's CATEGORIES
    builder: str | None  # "module:function"; None when a family's own rule writes it
    title: str  # the heading in report.md
    description: str  # the caption in Snakemake's HTML report (reStructuredText)

    def load_builder(self) -> Callable[..., Any]:
        """The builder function (importing its module, which may need torch or matplotlib)."""
        if self.builder is None:
            raise ValueError(f"{self.name} is written by its family's own rule, not built")
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)


@dataclass(frozen=True)
class Table(Product):
    #: Input name -> the run files it reads.
    inputs: dict[str, RunFiles] = field(default_factory=dict)
    #: Names of settings of the resolved config the builder needs (Plan.table_settings).
    settings: tuple[str, ...] = ()
    #: Whether the builder writes a readable ``.md`` (with notes) and a ``.tex`` beside the csv.
    documents: bool = False

    @property
    def csv(self) -> str:
        return f"{self.name}.csv"

    @property
    def files(self) -> tuple[str, ...]:
        suffixes = (".csv", ".md", ".tex") if self.documents else (".csv",)
        return tuple(self.name + suffix for suffix in suffixes)


@dataclass(frozen=True)
class Figure(Product):
    #: The tables it draws from.
    tables: tuple[Table, ...] = ()
    #: report.md's caption: what to look at, and how the setup differs from the paper's.
    look: str = ""
    differs: str = ""

    @property
    def png(self) -> str:
        return f"{self.name}.png"
