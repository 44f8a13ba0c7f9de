"""The product registry: every table and figure declared once, and everyone reads it."""

import re

import pytest

from odebench import families
from odebench.cnf import family as cnf
from odebench.core.products import Table
from odebench.mnist import family as mnist
from odebench.products import registry, report
from odebench.spirals import family as spirals

PRODUCTS = [*registry.TABLES.values(), *registry.FIGURES.values()]


@pytest.mark.parametrize("product", PRODUCTS, ids=lambda p: p.name)
def test_each_product_names_an_importable_builder_a_family_and_captions(product):
    if product.builder is not None:
        assert callable(product.load_builder())
    assert registry.category(product) == registry.FAMILIES[product.family]
    assert product.title and product.description


def test_a_product_name_declared_by_two_families_is_an_error_not_an_overwrite():
    twin = Table(registry.TABLE1.name, "spirals", None, "twin", "declared twice")
    with pytest.raises(ValueError, match="'table1_mnist' is declared twice"):
        families.by_name([registry.TABLE1, twin])


def test_the_registry_holds_every_product_the_families_declare_in_their_order():
    declared = [t.name for package in (mnist, spirals, cnf) for t in package.TABLES]
    assert list(registry.TABLES) == declared
    assert list(families.CLAIM_MODULES) == [*mnist.CLAIMS, *spirals.CLAIMS, *cnf.CLAIMS]


def test_a_table_written_by_its_family_rule_cannot_be_built():
    with pytest.raises(ValueError, match="written by its family's own rule"):
        registry.MEMORY_SCALING.load_builder()


def test_every_figure_draws_from_registered_tables():
    for figure in registry.FIGURES.values():
        assert figure.tables, figure.name
        for table in figure.tables:
            assert registry.TABLES[table.name] is table


def test_an_unknown_product_fails_with_the_known_names():
    with pytest.raises(ValueError, match="unknown product 'fig9'; known: fig3a_nfe_vs_error"):
        registry.lookup(registry.FIGURES, "fig9")


def test_the_report_takes_its_captions_and_table_headings_from_the_registry():
    assert list(report.CAPTIONS) == list(registry.FIGURES)
    assert report.CAPTIONS["fig8_spirals"].look == registry.FIGURES["fig8_spirals"].look
    documented = [name for name, table in registry.TABLES.items() if table.documents]
    assert list(report.PAPER_TABLES) == documented


def test_no_product_file_is_named_outside_the_registry(repo):
    """Adding a product is one registry entry plus its builder: no other code spells its files."""
    names = "|".join(p.name for p in PRODUCTS)
    pattern = re.compile(rf"[\"'/]({names})\.(csv|md|tex|png)\b")
    sources = [*(repo / "src").rglob("*.py"), *(repo / "workflow").rglob("*.smk"),
               *(repo / "workflow").rglob("*.rst"), repo / "Snakefile"]  # fmt: skip
    offenders = [
        f"{path.relative_to(repo)}: {match.group(0)}"
        for path in sources
        if path.name != "registry.py"
        for match in pattern.finditer(path.read_text())
    ]
    # A probe's own run file shares the name of the table built from it.
    assert offenders == ['src/odebench/core/paths.py: "reversibility.csv']
