import csv
import json

import pytest

from odebench.mnist import memory_scaling as scaling
from odebench.mnist.memory_scaling import METHODS, measure, memory_scaling


@pytest.fixture(scope="module")
def bytes_by_depth():
    depths = (1, 2, 4)
    return {
        method: [measure(method, depth, batch_size=4)["activation_bytes"] for depth in depths]
        for method in METHODS
    }


def test_adjoint_activation_bytes_are_constant_in_nfe(bytes_by_depth):
    assert len(set(bytes_by_depth["adjoint"])) == 1


@pytest.mark.parametrize("method", ["direct", "resnet"])
def test_direct_backprop_and_resnet_activation_bytes_grow_linearly_with_depth(
    bytes_by_depth, method
):
    one, two, four = bytes_by_depth[method]
    assert one < two < four
    per_unit = two - one
    assert four - two == pytest.approx(2 * per_unit, rel=0.02)


def test_direct_backprop_stores_more_than_the_adjoint_at_every_depth(bytes_by_depth):
    assert all(
        d > a for d, a in zip(bytes_by_depth["direct"], bytes_by_depth["adjoint"], strict=True)
    )


def test_each_case_runs_in_a_fresh_process_with_its_own_peak_rss():
    rows = memory_scaling({"batch_size": 2, "depths": [1, 2]})
    assert [(r["method"], r["depth"]) for r in rows] == [(m, d) for m in METHODS for d in (1, 2)]
    assert all(r["peak_rss_bytes"] >= r["rss_before_step_bytes"] > 0 for r in rows)
    assert [r["nfe"] for r in rows if r["method"] == "direct"] == [4, 8]


def test_unknown_method_names_the_known_ones():
    with pytest.raises(ValueError, match="known: adjoint, direct, resnet"):
        measure("checkpointed", 1, batch_size=1)


def test_entry_point_takes_the_run_config_and_writes_one_row_per_case(tmp_path):
    run = {"family": "memory_scaling", "budget": "smoke", "batch_size": 2, "depths": [1],
           "max_num_steps": 500}  # fmt: skip
    out = tmp_path / "memory_scaling.csv"
    assert scaling.main(["--run-config", json.dumps(run), "--out", str(out)]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["depth"]) for r in rows] == [(m, "1") for m in METHODS]
    assert list(rows[0]) == list(scaling.FIELDS)
