"""Each arm's training curves judged by the convergence rule, worst seed first."""

import pandas as pd
import pytest

from odebench.core import paths
from odebench.products.curves import arm_convergence, run_convergence

# 16 validations: 4 of them in the last quarter, the fewest the rule draws a trend through.
FLAT = [1.0, 0.7, 0.5, 0.4, 0.3, 0.25] + [0.2] * 10
FALLING = [1.0 - 0.05 * i for i in range(16)]
SPIKED = [1.0, 0.7, 0.5, 0.4, 0.3, 0.25] + [0.2] * 8 + [0.6, 0.7]


def run_dir(tmp_path, name, curve, status="completed"):
    """A run directory whose history.csv holds ``curve`` at iterations 10, 20, ..."""
    directory = tmp_path / name
    directory.mkdir()
    rows = [{"iteration": 10 * (i + 1), "loss": 0.0, "val_loss": v} for i, v in enumerate(curve)]
    pd.DataFrame(rows).to_csv(directory / paths.HISTORY_CSV, index=False)
    return {"arm": name.split("-")[0], "status": status, "run_dir": str(directory)}


def test_a_run_is_judged_on_the_validation_losses_of_its_history(tmp_path):
    assert run_convergence(run_dir(tmp_path, "a", FLAT)["run_dir"], 0.01, 0.02).status == (
        "converged"
    )
    assert run_convergence(run_dir(tmp_path, "b", FALLING)["run_dir"], 0.01, 0.02).status == (
        "still_improving"
    )
    assert run_convergence(run_dir(tmp_path, "c", SPIKED)["run_dir"], 0.01, 0.02).status == (
        "unstable"
    )


def test_a_run_without_a_validation_curve_is_unjudged(tmp_path):
    directory = tmp_path / "old"
    directory.mkdir()
    pd.DataFrame([{"iteration": 1, "loss": 0.3}]).to_csv(directory / paths.HISTORY_CSV)
    assert run_convergence(directory, 0.01, 0.02).status == "unjudged"
    assert run_convergence(tmp_path / "missing", 0.01, 0.02).status == "unjudged"


def test_an_arm_is_as_converged_as_its_worst_completed_seed(tmp_path):
    runs = pd.DataFrame([
        run_dir(tmp_path, "x-0", FLAT), run_dir(tmp_path, "x-1", FALLING),
        run_dir(tmp_path, "y-0", FLAT), run_dir(tmp_path, "y-1", FLAT),
        run_dir(tmp_path, "y-2", SPIKED, status="diverged"),  # failed: reported elsewhere
        run_dir(tmp_path, "z-0", FALLING), run_dir(tmp_path, "z-1", SPIKED),
    ])  # fmt: skip
    arms = arm_convergence(runs, ["arm"], 0.01, 0.02).set_index("arm")
    assert arms["convergence"].to_dict() == {"x": "still_improving", "y": "converged",
                                             "z": "unstable"}  # fmt: skip
    assert arms["n_converged"].to_dict() == {"x": 1, "y": 2, "z": 0}
    # The falling curve loses 0.05 per validation, 0.15 over its last four, in units of 1.
    assert arms.loc["x", "val_fall_max"] == pytest.approx(0.15)
    assert arms.loc["z", "val_excess_max"] == pytest.approx(0.4)
