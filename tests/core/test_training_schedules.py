import pytest
import torch

from odebench.core.training import LR_SCHEDULES, lr_scheduler


def test_cosine_schedule_starts_at_the_full_rate_and_ends_at_zero():
    cosine = LR_SCHEDULES["cosine"]
    assert cosine(0, 100) == 1.0
    assert cosine(50, 100) == pytest.approx(0.5)
    assert cosine(100, 100) == pytest.approx(0.0)
    assert LR_SCHEDULES["constant"](70, 100) == 1.0


def test_a_scheduler_steps_the_optimizers_rate_along_its_schedule():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = lr_scheduler(optimizer, "cosine", 4)
    rates = []
    for _ in range(4):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([0.1, 0.1 * (1 + 2**-0.5) / 2, 0.05, 0.1 * (1 - 2**-0.5) / 2])


def test_an_unknown_schedule_names_the_known_ones():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="known: constant, cosine"):
        lr_scheduler(optimizer, "linear", 4)
