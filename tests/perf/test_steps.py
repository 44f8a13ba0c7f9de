"""``python -m odebench.perf.steps``: each precision path's training step against fp32."""

import re

import pytest

from odebench.perf import steps


def test_steps_prints_every_path_of_every_arm_as_a_ratio_to_float32(tiny_mnist, capsys):
    code = steps.main(["--budget", "smoke", "--arms", "stem", "rknet-tol0.1", "--steps", "1",
                       "--threads", "1", "--paths", "bf16_conv", "fp32", "--data", str(tiny_mnist)])  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "* = the budget's path (fp32)" in out[0]
    rows = [(line[0] == "*", *line[2:].split()[:2]) for line in out[1:]]
    # fp32 first, marked as the smoke budget's path, and its own ratio exactly 1.
    assert rows == [(True, "stem", "fp32"), (False, "stem", "bf16_conv"),
                    (True, "rknet-tol0.1", "fp32"), (False, "rknet-tol0.1", "bf16_conv")]  # fmt: skip
    assert re.search(r"ratio  1\.00  NFE forward 0 backward 0$", out[1])
    assert re.search(r"NFE forward \d+ backward 0$", out[3])  # backpropagation: no adjoint solve


def test_an_unknown_path_fails_before_anything_is_timed(capsys):
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        steps.main(["--budget", "smoke", "--paths", "fp32", "fp8"])
