"""One checkpoint format for every family: what is resumed from, ignored or moved aside."""

from __future__ import annotations

import logging

import pytest
import torch

from odebench.core import checkpoint, paths
from odebench.core.status import COMPLETED
from odebench.core.training import IterativeTrainer

RUN = {"seed": 0, "iterations": 6, "log_every": 100, "checkpoint_every": 2, "lr": 0.05}


class Regression(IterativeTrainer):
    """Least squares on fresh noisy batches: every iteration draws from the trainer's generator."""

    def __init__(self, run, out_dir):
        super().__init__(run, out_dir, logging.getLogger("test.regression"))
        torch.manual_seed(run["seed"])
        self.model = torch.nn.Linear(3, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=run["lr"], momentum=0.9)
        self.generator = torch.Generator().manual_seed(run["seed"])

    def loss(self, batch):
        x = torch.randn(16, 3, generator=self.generator)
        y = x.sum(1, keepdim=True) + 0.1 * torch.randn(16, 1, generator=self.generator)
        return ((self.model(x) - y) ** 2).mean()

    def extra_state(self):
        return {"generator": self.generator.get_state()}

    def load_extra_state(self, state):
        self.generator.set_state(state["generator"])


def losses(trainer: IterativeTrainer) -> list[float]:
    return [row["loss"] for row in trainer.history]


@pytest.fixture()
def uninterrupted(tmp_path) -> list[float]:
    trainer = Regression(RUN, tmp_path / "reference")
    assert trainer.fit().status == COMPLETED
    return losses(trainer)


def stopped_after(run_dir, iterations: int) -> bytes:
    """The checkpoint of a run stopped after ``iterations``, as a kill would leave it."""
    trainer = Regression(RUN, run_dir)
    trainer.run["iterations"] = iterations
    trainer.fit()
    return (run_dir / paths.CHECKPOINT).read_bytes()


def test_a_stopped_run_resumes_from_its_last_checkpoint_to_the_same_losses(tmp_path, uninterrupted):
    stopped_after(tmp_path, 4)
    trainer = Regression(RUN, tmp_path)
    assert trainer.fit().completed
    assert losses(trainer) == uninterrupted


def test_a_checkpoint_holds_the_layout_version_and_the_config_hash(tmp_path):
    stopped_after(tmp_path, 2)
    state = torch.load(tmp_path / paths.CHECKPOINT, weights_only=True)
    assert state["layout"] == checkpoint.LAYOUT
    assert state["config_hash"] == Regression(RUN, tmp_path).hash
    assert len(state["history"]) == 2 and "generator" in state


@pytest.mark.parametrize(
    "damage",
    [lambda good: good[: len(good) // 2], lambda good: b"", lambda good: b"not a checkpoint"],
    ids=["truncated", "empty", "garbage"],
)
def test_an_unreadable_checkpoint_is_moved_aside_with_a_warning_and_the_run_starts_over(
    tmp_path, uninterrupted, caplog, damage
):
    bad = damage(stopped_after(tmp_path, 4))
    (tmp_path / paths.CHECKPOINT).write_bytes(bad)
    trainer = Regression(RUN, tmp_path)
    with caplog.at_level(logging.WARNING):
        outcome = trainer.fit()
    assert outcome.completed and losses(trainer) == uninterrupted  # started over, from iteration 1
    moved = list(tmp_path.glob(f"{paths.CHECKPOINT}.unreadable-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == bad  # nothing deleted
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "\n" not in message
    assert str(tmp_path / paths.CHECKPOINT) in message and moved[0].name in message
    assert torch.load(tmp_path / paths.CHECKPOINT, weights_only=True)["layout"] == checkpoint.LAYOUT


def test_moving_aside_never_overwrites_an_earlier_unreadable_copy(tmp_path):
    path = tmp_path / paths.CHECKPOINT
    path.write_bytes(b"first")
    first = checkpoint.move_aside(path)
    path.write_bytes(b"second")
    second = checkpoint.move_aside(path)
    assert first != second
    assert first.read_bytes() == b"first" and second.read_bytes() == b"second"
    assert not path.exists()


def test_a_checkpoint_of_another_layout_is_ignored_with_a_warning(tmp_path, uninterrupted, caplog):
    stopped_after(tmp_path, 4)
    state = torch.load(tmp_path / paths.CHECKPOINT, weights_only=True)
    state["layout"] = checkpoint.LAYOUT - 1
    torch.save(state, tmp_path / paths.CHECKPOINT)
    trainer = Regression(RUN, tmp_path)
    with caplog.at_level(logging.WARNING):
        assert trainer.fit().completed
    assert f"checkpoint layout {checkpoint.LAYOUT - 1}" in caplog.text
    assert losses(trainer) == uninterrupted
    assert not list(tmp_path.glob("*.unreadable-*"))  # readable: ignored, not moved aside


def test_a_checkpoint_written_before_layouts_were_shared_is_ignored(
    tmp_path, uninterrupted, caplog
):
    stopped_after(tmp_path, 4)
    state = torch.load(tmp_path / paths.CHECKPOINT, weights_only=True)
    del state["layout"]
    state["format"] = 2  # as MNIST and spirals wrote it
    torch.save(state, tmp_path / paths.CHECKPOINT)
    trainer = Regression(RUN, tmp_path)
    with caplog.at_level(logging.WARNING):
        assert trainer.fit().completed
    assert "checkpoint layout None" in caplog.text
    assert losses(trainer) == uninterrupted


def test_a_checkpoint_of_another_run_config_is_ignored_with_a_warning(tmp_path, caplog):
    other = Regression(RUN | {"lr": 0.01}, tmp_path)
    other.run["iterations"] = 4
    other.fit()
    trainer = Regression(RUN, tmp_path)
    with caplog.at_level(logging.WARNING):
        assert trainer.fit().completed
    assert "another run config" in caplog.text
    assert [row["iteration"] for row in trainer.history] == list(range(1, 7))
    assert trainer.hash != other.hash
