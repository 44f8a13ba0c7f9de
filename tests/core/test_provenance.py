"""A run's commit is ``-dirty`` only when code changed, not when outputs did."""

import subprocess

from odebench.core.provenance import git_commit


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_changed_outputs_leave_the_commit_clean_and_changed_code_makes_it_dirty(tmp_path):
    git(tmp_path, "init", "-q")
    for name in ("results/cpu/claims.csv", "reference/cpu/claims.csv", "src/code.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    (tmp_path / "reference/cpu/claims.csv").write_text("b\n")
    (tmp_path / "results/cpu/claims.csv").unlink()
    assert not git_commit(tmp_path).endswith("-dirty")
    (tmp_path / "src/code.py").write_text("b\n")
    assert git_commit(tmp_path).endswith("-dirty")
