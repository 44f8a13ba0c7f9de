"""The run envelope: config.json at open, provenance from the start, metrics.json at close."""

from __future__ import annotations

import json

import pytest
import torch

from odebench.core import measuring, paths
from odebench.core.run import COMMON_KEYS, RunConfigError, RunEnvelope, resolve_device
from odebench.core.status import COMPLETED, DIVERGED, Outcome

CONFIG = {"family": "toy", "seed": 7, "lr": 0.1, "device": "cpu"}


def opened(tmp_path, **kw) -> RunEnvelope:
    return RunEnvelope.open(CONFIG, tmp_path / "run", family="toy", arm="toy-a", **kw)


def test_opening_a_run_writes_its_config_and_sets_threads_before_any_work(tmp_path):
    envelope = opened(tmp_path, threads=1)
    run_dir = tmp_path / "run"
    assert json.loads((run_dir / paths.CONFIG_JSON).read_text()) == CONFIG
    assert not (run_dir / paths.METRICS_JSON).exists()
    assert torch.get_num_threads() == 1
    assert envelope.device == torch.device("cpu")
    assert envelope.provenance["seed"] == 7 and envelope.provenance["threads"] == 1
    assert envelope.provenance["config_hash"] == measuring.config_hash(CONFIG)
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_closing_writes_the_common_keys_merged_with_the_family_results(tmp_path):
    envelope = opened(tmp_path)
    metrics = envelope.close(Outcome(COMPLETED), {"rmse": 0.25, "model": "toy"}, params=42)
    on_disk = json.loads((tmp_path / "run" / paths.METRICS_JSON).read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    assert set(COMMON_KEYS) <= set(on_disk)
    assert on_disk["family"] == "toy" and on_disk["arm"] == "toy-a" and on_disk["seed"] == 7
    assert on_disk["status"] == "completed" and on_disk["status_detail"] == ""
    assert on_disk["params"] == 42 and on_disk["rmse"] == 0.25 and on_disk["model"] == "toy"
    assert on_disk["config"] == CONFIG and on_disk["provenance"]["device"] == "cpu"
    assert on_disk["peak_rss_bytes"] > 0 and on_disk["wall_seconds"] >= 0
    assert on_disk["cuda_max_memory_allocated_bytes"] is None  # a CPU run


def test_a_stopped_run_records_its_status_and_why(tmp_path):
    metrics = opened(tmp_path).close(Outcome(DIVERGED, "iteration 3: non-finite loss nan"), {})
    assert metrics["status"] == "diverged"
    assert metrics["status_detail"] == "iteration 3: non-finite loss nan"


def test_provenance_is_taken_when_the_run_opens_not_when_it_closes(tmp_path, monkeypatch):
    monkeypatch.setattr(measuring, "git_commit", lambda repo=None: "commit-at-open")
    envelope = opened(tmp_path)
    monkeypatch.setattr(measuring, "git_commit", lambda repo=None: "commit-at-close")
    metrics = envelope.close(Outcome(COMPLETED), {})
    assert metrics["provenance"]["git_commit"] == "commit-at-open"


def test_family_results_may_not_overwrite_the_common_keys(tmp_path):
    envelope = opened(tmp_path)
    with pytest.raises(ValueError, match=r"common keys \['seed', 'status'\]"):
        envelope.close(Outcome(COMPLETED), {"status": "fine", "seed": 0})
    assert not (tmp_path / "run" / paths.METRICS_JSON).exists()


def test_a_family_that_stays_on_the_cpu_says_so_in_its_provenance(tmp_path):
    envelope = RunEnvelope.open(CONFIG | {"device": "auto"}, tmp_path / "run", family="toy",
                                arm=None, device="cpu")  # fmt: skip
    assert envelope.device.type == "cpu" and envelope.provenance["device"] == "cpu"


def test_a_missing_cuda_device_fails_in_one_line_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RunConfigError, match="^invalid config: device: cuda requested but not"):
        RunEnvelope.open(CONFIG | {"device": "cuda"}, tmp_path / "run", family="toy", arm=None)
    assert not (tmp_path / "run").exists()


def test_auto_picks_cuda_only_where_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name", ["tpu", "mps", "gpu"])
def test_an_unknown_device_names_the_known_ones(name):
    with pytest.raises(RunConfigError, match="not one of: cpu, cuda, auto"):
        resolve_device(name)


def test_a_config_without_a_device_runs_on_the_cpu(tmp_path):
    config = {k: v for k, v in CONFIG.items() if k != "device"}
    envelope = RunEnvelope.open(config, tmp_path / "run", family="toy", arm=None)
    assert envelope.device == torch.device("cpu")
