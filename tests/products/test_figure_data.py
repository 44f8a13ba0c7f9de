"""The figures' own tables: which runs they draw."""

from __future__ import annotations

from pathlib import Path

from odebench.core import artifacts, paths
from odebench.products.figure_data import median_kl_runs


def density_runs(root: Path, arm: str, kls: dict[int, float | None]) -> list[Path]:
    """Run directories of one Figure 4 arm, one per seed, with that seed's test KL."""
    target, model, capacity = arm.split("/")
    dirs = []
    for seed, kl in kls.items():
        run_dir = root / arm.replace("/", "-") / f"seed{seed}"
        run_dir.mkdir(parents=True)
        artifacts.write_json(run_dir / paths.CONFIG_JSON, {
            "target": target, "model": model, "capacity": int(capacity), "seed": seed,
        })  # fmt: skip
        artifacts.write_json(run_dir / paths.METRICS_JSON, {"kl": kl})
        dirs.append(run_dir)
    return dirs


def test_fig4_draws_each_arms_median_kl_seed(tmp_path):
    dirs = density_runs(tmp_path, "ring/cnf/8", {0: 0.108, 1: 0.728, 2: 0.476})
    dirs += density_runs(tmp_path, "ring/nf/8", {0: 0.9, 1: 0.3, 2: 0.5, 3: 0.7})
    chosen = {path.parent.name: path.name for path in median_kl_runs(dirs)}
    assert chosen == {"ring-cnf-8": "seed2", "ring-nf-8": "seed2"}  # even count: lower middle


def test_fig4_draws_a_failed_seed_only_when_every_seed_failed(tmp_path):
    dirs = density_runs(tmp_path, "wave/cnf/2", {0: None, 1: None, 2: 0.4})
    dirs += density_runs(tmp_path, "wave/nf/2", {0: None, 1: None})
    chosen = {path.parent.name: path.name for path in median_kl_runs(dirs)}
    assert chosen == {"wave-cnf-2": "seed2", "wave-nf-2": "seed0"}
