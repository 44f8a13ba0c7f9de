"""Building registered products by hand, as the table and figure rules do.

The committed reference run is the specification: every table built from its runs is
the committed table, to the byte (csv values to the last few ulps: a least-squares fit's
last digits depend on the BLAS build), and every figure draws from its committed tables.
"""

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from odebench.core import paths
from odebench.pipeline.plan import Plan
from odebench.products import build, registry
from odebench.products.reference import load_reference


@pytest.fixture(scope="module")
def cpu_plan(repo, request):
    import yaml

    config = yaml.safe_load((repo / "config.yaml").read_text())
    return Plan(config | {"budget": "cpu"})


def in_reference(repo, path):
    """Where the plan's ``results/cpu/...`` path lies in the committed reference run."""
    return repo / paths.in_reference(path)


def reference_inputs(repo, inputs):
    return {key: [in_reference(repo, path) for path in files] for key, files in inputs.items()}


@pytest.mark.parametrize("name", list(registry.BUILT_TABLES))
def test_each_table_built_from_the_committed_runs_is_the_committed_table(
    repo, cpu_plan, tmp_path, name
):
    wildcards = SimpleNamespace(table=name)
    inputs = reference_inputs(repo, cpu_plan.table_inputs(wildcards))
    settings = json.loads(cpu_plan.table_settings(wildcards))
    out = tmp_path / registry.TABLES[name].csv
    build.build_table(name, inputs, load_reference(repo / "paper" / "reference.yaml"), settings,
                      out)  # fmt: skip
    committed = in_reference(repo, cpu_plan.table(name))
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(committed), rtol=1e-12)
    for file in registry.TABLES[name].files[1:]:  # the .md and .tex
        assert (tmp_path / file).read_text() == (committed.parent / file).read_text(), file


@pytest.mark.slow
@pytest.mark.parametrize("name", list(registry.FIGURES))
def test_each_figure_draws_from_its_committed_tables(repo, cpu_plan, tmp_path, name):
    tables = [
        in_reference(repo, path) for path in cpu_plan.figure_inputs(SimpleNamespace(figure=name))
    ]
    out = tmp_path / registry.FIGURES[name].png
    build.draw_figure(name, tables, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_a_table_given_other_inputs_than_it_reads_fails_naming_them(tmp_path):
    with pytest.raises(
        ValueError, match=r"table1_mnist reads inputs \['metrics'\], given \['runs'\]"
    ):
        build.build_table("table1_mnist", {"runs": []}, {}, {}, tmp_path / "t.csv")


def test_a_missing_input_fails_naming_the_file_and_writes_nothing(tmp_path):
    missing = tmp_path / "runs" / "metrics.json"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        build.build_table("table1_mnist", {"metrics": [missing]}, {}, {}, tmp_path / "t.csv")
    assert not (tmp_path / "t.csv").exists()


def test_the_entry_point_says_what_is_wrong_in_one_line(tmp_path, capsys):
    assert (
        build.main(["figure", "fig9", "--tables", "x.csv", "--out", str(tmp_path / "f.png")]) == 1
    )
    assert "odebench.products: error: unknown product 'fig9'" in capsys.readouterr().err
