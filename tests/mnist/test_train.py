import csv
import json

import pytest
import torch

from odebench.core import paths
from odebench.mnist import train as mnist
from odebench.mnist.train import SCHEDULES, Trainer, lr_milestones, random_crop


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_a_run_writes_config_history_steps_and_metrics(tiny_run, tmp_path):
    metrics = mnist.train(tiny_run, tmp_path)
    for name in (
        paths.CONFIG_JSON,
        paths.METRICS_JSON,
        paths.HISTORY_CSV,
        paths.STEPS_CSV,
        paths.MODEL,
    ):
        assert (tmp_path / name).is_file(), name
    assert metrics["status"] == "completed"
    assert len(read_csv(tmp_path / paths.HISTORY_CSV)) == 2
    assert len(read_csv(tmp_path / paths.STEPS_CSV)) == 2 * 3  # 96 images / batch 32
    assert metrics["params"] == 208_266
    assert metrics["nfe_forward"] > 0 and metrics["nfe_backward"] > 0
    assert len(metrics["nfe_forward_history"]) == 2
    assert metrics["activation_bytes"] > 0 and metrics["peak_rss_bytes"] > 0
    assert 0 <= metrics["test_error_pct"] <= 100
    assert metrics["best_epoch"] in (1, 2)
    prov = metrics["provenance"]
    assert prov["seed"] == 3 and prov["config_hash"] and prov["packages"]["torchdiffeq"] == "0.2.5"
    assert json.loads((tmp_path / paths.CONFIG_JSON).read_text()) == tiny_run


def test_same_seed_gives_the_same_metrics(tiny_run, tmp_path):
    first = mnist.train(tiny_run, tmp_path / "a")
    second = mnist.train(tiny_run, tmp_path / "b")
    for key in ("test_error_pct", "best_val_error_pct", "nfe_forward_history", "activation_bytes"):
        assert first[key] == second[key], key
    assert (
        read_csv(tmp_path / "a" / paths.STEPS_CSV)[-1]["loss"]
        == read_csv(tmp_path / "b" / paths.STEPS_CSV)[-1]["loss"]
    )


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_result(
    tiny_run, tmp_path, monkeypatch
):
    tiny_run["model"] = "resnet"
    tiny_run["tol"] = None
    reference = mnist.train(tiny_run, tmp_path / "reference")

    original = Trainer.start_epoch

    def crash_in_epoch_two(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt("killed")
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "start_epoch", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        mnist.train(tiny_run, tmp_path / "resumed")
    assert (tmp_path / "resumed" / paths.CHECKPOINT).is_file()
    assert not (tmp_path / "resumed" / paths.METRICS_JSON).exists()

    monkeypatch.setattr(Trainer, "start_epoch", original)
    resumed = mnist.train(tiny_run, tmp_path / "resumed")
    assert resumed["test_error_pct"] == reference["test_error_pct"]
    assert len(read_csv(tmp_path / "resumed" / paths.STEPS_CSV)) == 6


def without_timing(rows, timing=("seconds", "epoch_seconds", "examples_per_s")):
    return [{k: v for k, v in row.items() if k not in timing} for row in rows]


def test_a_run_killed_mid_epoch_resumes_from_its_last_iteration_checkpoint_to_the_same_metrics(
    tiny_run, tmp_path, monkeypatch, caplog
):
    tiny_run["checkpoint_every"] = 2  # training steps: 2 epochs of 3 steps
    reference = mnist.train(tiny_run, tmp_path / "reference")
    run_dir = tmp_path / "killed"
    original = Trainer.train_step
    calls = []

    def killed_in_step_five(self, batch, meter=None):
        calls.append(1)
        if len(calls) == 5:  # epoch 2, step 2: one step after the checkpoint of iteration 4
            raise KeyboardInterrupt("killed")
        return original(self, batch, meter)

    monkeypatch.setattr(Trainer, "train_step", killed_in_step_five)
    with pytest.raises(KeyboardInterrupt):
        mnist.train(tiny_run, run_dir)
    state = torch.load(run_dir / paths.CHECKPOINT, weights_only=True)
    assert len(state["history"]) == 4 and len(state["epochs"]) == 1  # mid-epoch, not an epoch
    assert not (run_dir / paths.METRICS_JSON).exists()

    monkeypatch.setattr(Trainer, "train_step", original)
    with caplog.at_level("INFO", logger="odebench"):
        resumed = mnist.train(tiny_run, run_dir)
    assert "after iteration 4" in caplog.text
    for key in ("status", "test_error_pct", "best_val_error_pct", "best_epoch",
                "nfe_forward_history", "nfe_backward_history", "activation_bytes_history",
                "test_nfe_forward", "epochs_completed"):  # fmt: skip
        assert resumed[key] == reference[key], key
    for name in (paths.STEPS_CSV, paths.HISTORY_CSV):
        assert without_timing(read_csv(run_dir / name)) == without_timing(
            read_csv(tmp_path / "reference" / name)
        ), name


def test_a_corrupt_checkpoint_is_moved_aside_and_the_run_finishes(tiny_run, tmp_path, caplog):
    reference = mnist.train(tiny_run, tmp_path / "reference")
    good = (tmp_path / "reference" / paths.CHECKPOINT).read_bytes()
    run_dir = tmp_path / "corrupt"
    run_dir.mkdir()
    (run_dir / paths.CHECKPOINT).write_bytes(good[: len(good) // 3])  # as a full disk leaves it
    with caplog.at_level("WARNING"):
        metrics = mnist.train(tiny_run, run_dir)
    assert metrics["status"] == "completed"
    assert metrics["test_error_pct"] == reference["test_error_pct"]
    moved = list(run_dir.glob(f"{paths.CHECKPOINT}.unreadable-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == good[: len(good) // 3]
    assert f"unreadable checkpoint {run_dir / paths.CHECKPOINT}" in caplog.text


def test_a_checkpoint_of_another_layout_is_ignored_not_a_crash(tiny_run, tmp_path, caplog):
    reference = mnist.train(tiny_run, tmp_path / "reference")
    run_dir = tmp_path / "old"
    trainer = Trainer(tiny_run, run_dir, torch.device("cpu"))
    trainer.save_checkpoint()
    state = torch.load(run_dir / paths.CHECKPOINT, weights_only=True)
    del state["layout"], state["epochs"]  # as written before the families shared one layout
    state["format"] = 2
    torch.save(state, run_dir / paths.CHECKPOINT)
    with caplog.at_level("WARNING", logger="odebench"):
        metrics = mnist.train(tiny_run, run_dir)
    assert "checkpoint layout None" in caplog.text
    assert metrics["test_error_pct"] == reference["test_error_pct"]


def test_a_diverging_run_records_why_and_does_not_raise(tiny_run, tmp_path):
    tiny_run.update(model="mlp", tol=None, lr=1e12)
    metrics = mnist.train(tiny_run, tmp_path)
    assert metrics["status"] == "diverged"
    assert "non-finite" in metrics["status_detail"]
    assert metrics["test_error_pct"] is None
    assert (tmp_path / paths.METRICS_JSON).is_file()


def test_an_exhausted_step_budget_is_recorded(tiny_run, tmp_path):
    tiny_run.update(tol=1e-9, max_num_steps=3)
    metrics = mnist.train(tiny_run, tmp_path)
    assert metrics["status"] == "step_budget_exhausted"
    assert "max_num_steps" in metrics["status_detail"]


def test_random_crop_shifts_each_image_within_the_padding():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 14, 14] = 1.0
    crops = random_crop(x, 4, torch.Generator().manual_seed(0))
    assert crops.shape == x.shape
    rows, cols = (crops[:, 0] == 1).nonzero()[:, 1], (crops[:, 0] == 1).nonzero()[:, 2]
    assert len(rows) == 64  # the bright pixel survives every shift of at most 4
    assert rows.min() >= 10 and rows.max() <= 18 and cols.min() >= 10 and cols.max() <= 18
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10  # shifts differ


def test_zero_padding_leaves_the_images_alone():
    x = torch.rand(5, 1, 28, 28)
    assert random_crop(x, 0, torch.Generator().manual_seed(0)) is x


def test_lr_decays_at_the_papers_fractions_of_training():
    run = {"epochs": 160, "lr_milestones": [0.375, 0.625, 0.875]}
    assert lr_milestones(run, steps_per_epoch=10) == [600, 1000, 1400]


def lr_per_step(schedule, run, steps_per_epoch, peak=0.2):
    """The learning rate of every training step under ``schedule`` (a one-weight SGD)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak, momentum=0.9)
    scheduler = SCHEDULES[schedule](optimizer, run, steps_per_epoch)
    rates = []
    for _ in range(run["epochs"] * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_the_step_schedule_multiplies_the_lr_by_the_decay_at_each_milestone():
    run = {"epochs": 4, "lr_milestones": [0.5, 0.75], "lr_decay": 0.1}
    rates = lr_per_step("step", run, steps_per_epoch=10)
    assert rates[19] == pytest.approx(0.2) and rates[20] == pytest.approx(0.02)
    assert rates[30] == pytest.approx(0.002) and rates[-1] == pytest.approx(0.002)


def test_one_cycle_warms_up_to_the_peak_then_anneals_to_nearly_zero_at_the_last_step():
    run = {"epochs": 4, "warmup": 0.25}
    rates = lr_per_step("one_cycle", run, steps_per_epoch=10)
    assert rates[0] == pytest.approx(0.2 / 25)
    # The peak at the last step of the warm-up, the 10th of 40 (torch counts it as step 9).
    assert max(rates) == pytest.approx(0.2) and rates.index(max(rates)) == 9
    assert rates[:10] == sorted(rates[:10]) and rates[9:] == sorted(rates[9:], reverse=True)
    assert rates[-1] < 0.2 / 1000


def test_command_line_reports_a_bad_config_in_one_line(capsys, tmp_path, tiny_run):
    run = json.dumps(tiny_run | {"device": "tpu"})
    assert mnist.main(["--run-config", run, "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "python -m odebench.mnist: error: invalid config: device: 'tpu'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
