import pandas as pd
import pytest

from odebench.core import artifacts
from odebench.products.tables.mnist import table1

REQUIRED_COLUMNS = [
    "model", "n_seeds", "test_error_pct_mean", "test_error_pct_std", "params", "activation_mib",
    "nfe_forward", "nfe_backward", "epoch_seconds", "paper_test_error_pct", "paper_params",
    "paper_memory",
]  # fmt: skip


def fake_run(tmp_path, model, seed, tol, error, status="completed"):
    metrics = {
        "family": "mnist", "model": model, "arm": model if tol is None else f"{model}-tol{tol:g}",
        "seed": seed, "tol": tol, "status": status,
        "status_detail": "" if status == "completed" else "epoch 1: non-finite training loss nan",
        "params": 1000, "test_error_pct": error if status == "completed" else None,
        "best_val_error_pct": error, "best_epoch": 1, "nfe_forward": 26.0 if tol else 0.0,
        "nfe_backward": 30.0 if model == "odenet" else 0.0, "activation_bytes": 2**20,
        "activation_nfe_forward": 26 if tol else 0, "test_nfe_forward": 26.0, "epoch_seconds": 10.0,
        "train_examples_per_s": 100.0, "peak_rss_bytes": 2**30, "wall_seconds": 30.0,
        "n_train": 50000, "n_val": 10000,
        "config": {"budget": "cpu", "epochs": 3, "solver": "dopri5", "batch_size": 128},
    }  # fmt: skip
    path = tmp_path / metrics["arm"] / f"seed{seed}" / "metrics.json"
    artifacts.write_json(path, metrics)
    return path


@pytest.fixture()
def five_arm_runs(tmp_path):
    files = []
    for model, tol in (
        ("mlp", None),
        ("resnet", None),
        ("rknet", 1e-3),
        ("odenet", 1e-3),
        ("stem", None),
    ):
        files += [fake_run(tmp_path, model, 0, tol, 1.0), fake_run(tmp_path, model, 1, tol, 2.0)]
    return files


def test_table1_has_one_row_per_model_with_stats_over_seeds(five_arm_runs, reference, tmp_path):
    table = table1(five_arm_runs, reference, tmp_path / "out" / "table1_mnist")
    assert list(table["model"]) == ["mlp", "resnet", "rknet", "odenet", "stem"]
    assert set(REQUIRED_COLUMNS) <= set(table.columns)
    assert (table["n_seeds"] == 2).all()
    assert table["test_error_pct_mean"].tolist() == [1.5] * 5
    assert table["test_error_pct_std"].iloc[0] == pytest.approx(0.7071, abs=1e-4)
    assert table["activation_mib"].iloc[0] == 1.0


def test_table1_puts_the_papers_numbers_beside_ours(five_arm_runs, reference, tmp_path):
    table = table1(five_arm_runs, reference, tmp_path / "t").set_index("model")
    assert table.loc["odenet", "paper_test_error_pct"] == 0.42
    assert table.loc["resnet", "paper_params"] == 600_000
    assert table.loc["odenet", "paper_memory"] == "O(1)"
    assert table.loc["odenet", "test_error_diff_pct"] == pytest.approx(1.5 - 0.42)
    assert pd.isna(table.loc["stem", "paper_test_error_pct"])


def test_table1_writes_csv_markdown_and_latex(five_arm_runs, reference, tmp_path):
    table1(five_arm_runs, reference, tmp_path / "t" / "table1_mnist")
    csv = pd.read_csv(tmp_path / "t" / "table1_mnist.csv")
    assert len(csv) == 5
    md = (tmp_path / "t" / "table1_mnist.md").read_text()
    assert "| ODE-Net | 0.001 | 2 | 1.50 ± 0.71 | 0.42 |" in md
    assert "Budget `cpu`: 3 epoch(s) on 50,000 training images" in md
    assert r"\begin{tabular}" in (tmp_path / "t" / "table1_mnist.tex").read_text()


def test_failed_runs_are_counted_and_explained_not_averaged(tmp_path, reference):
    files = [
        fake_run(tmp_path, "odenet", 0, 1e-3, 1.0),
        fake_run(tmp_path, "odenet", 1, 1e-3, None, status="diverged"),
    ]
    table = table1(files, reference, tmp_path / "t")
    row = table.iloc[0]
    assert row["n_seeds"] == 1 and row["n_failed"] == 1
    assert row["test_error_pct_mean"] == 1.0
    assert "non-finite" in row["failure"]
    assert "(+1 failed)" in (tmp_path / "t.md").read_text()
