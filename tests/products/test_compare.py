"""A user's run against the committed reference run: verdicts side by side, and each
difference of a number judged against the seed spread."""

import math

import pandas as pd
import pytest

from odebench.products import compare
from odebench.products.stats import Summary


def results_dir(root, name, table1, claims):
    """A minimal ``results/<budget>``: claims.csv and tables/table1_mnist.csv."""
    directory = root / name
    (directory / "tables").mkdir(parents=True)
    pd.DataFrame(table1).to_csv(directory / "tables" / "table1_mnist.csv", index=False)
    pd.DataFrame(claims).to_csv(directory / "claims.csv", index=False)
    return directory


def arm(model, mean, std=0.05, n=3, seconds=60.0):
    return {"model": model, "tol": math.nan if model != "odenet" else 1e-3, "n_seeds": n,
            "test_error_pct_mean": mean, "test_error_pct_std": std,
            "epoch_seconds": seconds, "epoch_seconds_std": 1.0}  # fmt: skip


@pytest.fixture()
def pair(tmp_path):
    """A reference and a run: the ResNet moved far beyond its spread, the ODE-Net did not,
    the MLP exists only in the reference, and one claim's verdict changed."""
    reference = results_dir(
        tmp_path, "reference",
        [arm("resnet", 1.0), arm("odenet", 1.2), arm("mlp", 3.0)],
        [{"claim_id": "a", "verdict": "reproduced"}, {"claim_id": "b", "verdict": "untested"}],
    )  # fmt: skip
    run = results_dir(
        tmp_path, "run",
        [arm("resnet", 2.0, seconds=30.0), arm("odenet", 1.22)],
        [{"claim_id": "a", "verdict": "reproduced"}, {"claim_id": "b", "verdict": "inconclusive"}],
    )  # fmt: skip
    return run, reference


def test_a_difference_is_judged_against_the_welch_interval_of_the_seeds():
    reference = Summary(1.0, 0.05, 3)
    assert compare.judge(reference, Summary(1.02, 0.05, 3))[3] == compare.WITHIN
    difference, low, high, judgement = compare.judge(reference, Summary(2.0, 0.05, 3))
    assert judgement == compare.DIFFERS
    assert difference == pytest.approx(1.0) and low > 0 and high > low


def test_one_seed_gives_no_spread_to_judge_by_unless_the_values_are_equal():
    assert (
        compare.judge(Summary(1.0, math.nan, 1), Summary(1.5, math.nan, 1))[3] == compare.NO_SPREAD
    )
    assert compare.judge(Summary(4.0, math.nan, 1), Summary(4.0, math.nan, 1))[3] == compare.EQUAL


def test_the_comparison_lists_each_arm_with_its_judgement_and_the_arms_one_side_lacks(pair):
    run, reference = pair
    text, numbers, verdicts = compare.render(run, reference)
    errors = numbers[numbers["metric"] == "test_error_pct"].set_index("arm")["judgement"]
    assert errors.to_dict() == {"model resnet": compare.DIFFERS,
                                "model odenet, tol 0.001": compare.WITHIN}  # fmt: skip
    assert "Only in the reference: model mlp." in text
    assert "table1_mnist model resnet test_error_pct (1 → 2)" in text
    # The time per epoch is the machine's, not a result: marked as cost, left out of the count.
    seconds = numbers[numbers["metric"] == "epoch_seconds"]
    assert set(seconds["kind"]) == {"cost"}
    assert (
        "(2 result metrics over arms, cost metrics aside): 1 within seed spread, 1 differs" in text
    )


def test_verdicts_are_compared_claim_by_claim(pair):
    run, reference = pair
    text, _, verdicts = compare.render(run, reference)
    assert verdicts.set_index("claim_id")["agrees"].to_dict() == {"a": True, "b": False}
    assert "1 of 2 claims have the same verdict" in text
    assert "| b | untested | inconclusive | **no** |" in text


def test_a_table_missing_on_one_side_is_named_not_compared(pair):
    run, reference = pair
    text, _, _ = compare.render(run, reference)
    assert "### table2_spirals\n\nNot compared:" in text


def test_the_entry_point_writes_both_files_and_fails_in_one_line_without_claims(
    pair, tmp_path, capsys
):
    run, reference = pair
    out, csv = tmp_path / "comparison.md", tmp_path / "comparison.csv"
    argv = ["--run", str(run), "--reference", str(reference), "--out", str(out)]
    assert compare.main([*argv, "--csv", str(csv)]) == 0
    assert out.read_text().startswith("# This run against the reference")
    assert list(pd.read_csv(csv).columns) == list(compare.COLUMNS)
    (run / "claims.csv").unlink()
    assert compare.main(argv) == 1
    assert "python -m odebench.products.compare: error:" in capsys.readouterr().err


def test_each_sides_elapsed_time_is_quoted_where_its_snakemake_log_was_kept(pair):
    run, reference = pair
    assert "**Time**" not in compare.render(run, reference)[0]
    (run / "logs").mkdir()
    (run / "logs" / "snakemake.log").write_text(
        "[Thu Nov 26 07:00:00 2026]\nlocalrule report:\n    jobid: 1\n"
        "[Thu Nov 26 07:02:00 2026]\nFinished jobid: 1 (Rule: report)\nElapsed time: 0:02:01\n"
    )
    text = compare.render(run, reference)[0]
    assert "this run 0:02:01 for 1 jobs, the reference not recorded" in text
