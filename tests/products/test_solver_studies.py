import numpy as np
import pandas as pd
import pytest

from odebench.core import artifacts, paths
from odebench.products.tables import solver_studies as studies


def write_probe(root, tol, seed, sweep_rows, backward_rows=(), reversibility_rows=()):
    out = root / f"probe-{tol}-{seed}"
    artifacts.write_json(out / paths.METRICS_JSON, {"train_tol": tol, "seed": seed})
    pd.DataFrame(sweep_rows).to_csv(out / paths.SWEEP_CSV, index=False)
    pd.DataFrame(list(backward_rows), columns=["solver", "adjoint", "image", "nfe_forward",
                 "nfe_backward"]).to_csv(out / paths.BACKWARD_NFE_CSV, index=False)  # fmt: skip
    pd.DataFrame(list(reversibility_rows)).to_csv(out / paths.REVERSIBILITY_CSV, index=False)
    return out


def write_training(root, tol, seed, nfe_forward_per_step, steps_per_epoch):
    out = root / f"train-{tol}-{seed}"
    artifacts.write_json(out / paths.CONFIG_JSON, {"tol": tol, "seed": seed})
    rows = [
        {"epoch": i // steps_per_epoch + 1, "step": i + 1, "loss": 1.0, "nfe_forward": nfe,
         "nfe_backward": nfe // 2, "seconds": 0.1}
        for i, nfe in enumerate(nfe_forward_per_step)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(out / paths.STEPS_CSV, index=False)
    return out


def sweep_row(solver, value, nfe, error, seconds, status="completed", **columns):
    return {"solver": solver, "kind": "tol", "tol_or_steps": value, "status": status,
            "nfe_forward": nfe, "error": error, "seconds": seconds, "test_error_pct": 1.0,
            **columns}  # fmt: skip


def test_work_precision_averages_over_seeds_and_counts_failed_cases(tmp_path):
    probes = [
        write_probe(tmp_path, 0.001, 0, [sweep_row("dopri5", 0.1, 14, 0.01, 1.0),
                                         sweep_row("dopri5", 1e-6, 80, 1e-5, 4.0)]),
        write_probe(tmp_path, 0.001, 1, [sweep_row("dopri5", 0.1, 20, 0.03, 2.0),
                                         sweep_row("dopri5", 1e-6, 90, None, None,
                                                   status="step_budget_exhausted")]),
    ]  # fmt: skip
    table = studies.work_precision(probes).set_index("tol_or_steps")
    assert table.loc[0.1, "n_seeds"] == 2 and table.loc[0.1, "nfe_forward"] == 17
    assert table.loc[0.1, "error"] == pytest.approx(0.02)
    assert table.loc[0.1, "error_std"] == pytest.approx(np.std([0.01, 0.03], ddof=1))
    assert table.loc[1e-6, "n_seeds"] == 1 and table.loc[1e-6, "n_failed"] == 1


def test_work_precision_keeps_backends_apart_and_reads_old_sweeps_as_torchdiffeq(tmp_path):
    probes = [
        write_probe(tmp_path, 0.001, 0, [sweep_row("dopri5", 0.1, 14, 0.01, 1.0, backend="lean"),
                                         sweep_row("dopri5", 0.1, 26, 0.002, 3.0,
                                                   backend="torchode")]),
        write_probe(tmp_path, 0.001, 1, [sweep_row("dopri5", 0.1, 20, 0.03, 2.0)]),  # no column
    ]  # fmt: skip
    table = studies.work_precision(probes)
    assert list(table.columns[:5]) == studies.CASE_KEYS
    by_backend = table.set_index("backend")
    assert list(by_backend.index) == ["lean", "torchdiffeq", "torchode"]
    assert by_backend["nfe_forward"].to_dict() == {"lean": 14, "torchdiffeq": 20, "torchode": 26}
    assert (table["n_seeds"] == 1).all()
    # Claims read one joint backend per training tolerance (both take the same steps;
    # pooling them would count every test-time setting twice): the first of JOINT_BACKENDS.
    joint = studies.joint_control(table)
    assert list(joint["backend"]) == ["torchdiffeq"]


def test_a_table_without_a_backend_column_is_all_joint_step_size_control():
    frame = pd.DataFrame({"solver": ["dopri5", "rk4"]})
    assert studies.joint_control(frame).equals(frame)


def test_time_vs_nfe_fits_one_line_per_backend(tmp_path):
    rows = [sweep_row("dopri5", tol, nfe, 0.1, 0.5 + rate * nfe, backend=backend)
            for backend, rate in (("lean", 0.02), ("torchode", 0.05))
            for tol, nfe in ((0.1, 14), (0.01, 20), (1e-4, 32))]  # fmt: skip
    table = studies.time_vs_nfe([write_probe(tmp_path, 0.1, 0, rows)]).set_index("backend")
    assert table.loc["lean", "seconds_per_nfe"] == pytest.approx(0.02)
    assert table.loc["torchode", "seconds_per_nfe"] == pytest.approx(0.05)


def test_time_vs_nfe_fits_a_line_with_its_r2(tmp_path):
    rows = [sweep_row("dopri5", tol, nfe, 0.1, 0.5 + 0.02 * nfe)
            for tol, nfe in ((0.1, 14), (0.01, 20), (1e-4, 32))]  # fmt: skip
    table = studies.time_vs_nfe([write_probe(tmp_path, 0.1, 0, rows)])
    fit = table.iloc[0]
    assert fit["seconds_per_nfe"] == pytest.approx(0.02)
    assert fit["intercept_seconds"] == pytest.approx(0.5)
    assert fit["r2"] == pytest.approx(1.0)
    assert fit["n_points"] == 3 and fit["backend"] == "torchdiffeq"  # a sweep without it


def test_nfe_over_training_averages_windows_of_each_epoch(tmp_path):
    # 2 epochs of 4 steps, 2 windows per epoch: window means 10, 20, 30, 40
    run = write_training(tmp_path, 0.1, 0, [10, 10, 20, 20, 30, 30, 40, 40], steps_per_epoch=4)
    table = studies.nfe_over_training([run], bins_per_epoch=2)
    assert list(table["epoch_position"]) == [0.25, 0.75, 1.25, 1.75]
    assert list(table["nfe_forward"]) == [10, 20, 30, 40]
    assert list(table["nfe_backward"]) == [5, 10, 15, 20]


def test_backward_vs_forward_keeps_training_steps_and_probes_apart(tmp_path):
    run = write_training(tmp_path, 0.1, 0, [14, 14, 20], steps_per_epoch=3)
    probe = write_probe(
        tmp_path, 0.1, 0, [sweep_row("dopri5", 0.1, 14, 0.1, 1.0)],
        backward_rows=[("lsoda", "state", 0, 30, 12), ("lsoda", "state", 1, 30, 18)],
    )  # fmt: skip
    table = studies.nfe_backward_vs_forward([run], [probe]).set_index(["source", "nfe_forward"])
    assert table.loc[("training", 14), "count"] == 2
    assert table.loc[("training", 14), "nfe_backward"] == 7
    assert table.loc[("probe", 30), "solver"] == "lsoda"
    assert table.loc[("probe", 30), "nfe_backward"] == 15
    assert table.loc[("probe", 30), "backward_over_forward"] == pytest.approx(0.5)


def test_backward_vs_forward_puts_the_seminorm_arm_beside_the_full_norm(tmp_path):
    run = write_training(tmp_path, 0.1, 0, [14], steps_per_epoch=1)
    probe = write_probe(
        tmp_path, 0.1, 0, [sweep_row("dopri5", 0.1, 14, 0.1, 1.0)],
        backward_rows=[("dopri5", "full", 0, 20, 20), ("dopri5+seminorm", "full", 0, 20, 14)],
    )  # fmt: skip
    table = studies.nfe_backward_vs_forward([run], [probe])
    probes = table[table["source"] == "probe"].set_index("solver")
    assert probes["nfe_backward"].to_dict() == {"dopri5": 20, "dopri5+seminorm": 14}
    assert set(probes["adjoint"]) == {"full"} and set(probes["nfe_forward"]) == {20}


def test_no_probes_is_an_error_not_an_empty_table():
    with pytest.raises(ValueError, match="no runs given for sweep.csv"):
        studies.work_precision([])


def test_joint_control_keeps_one_joint_backend_per_training_tolerance():
    from odebench.products.tables.solver_studies import joint_control

    frame = pd.DataFrame({
        "train_tol": [1e-3, 1e-3, 1e-3, 0.1, 0.1],
        "backend": ["torchdiffeq", "lean", "torchode", "lean", "torchode"],
        "tol_or_steps": [1e-3] * 5,
    })  # fmt: skip
    kept = joint_control(frame)
    assert sorted(zip(kept["train_tol"], kept["backend"], strict=True)) == [
        (1e-3, "torchdiffeq"), (0.1, "lean"),
    ]  # fmt: skip
    assert joint_control(frame.drop(columns="backend")).equals(frame.drop(columns="backend"))
