"""AdamW under a one-cycle schedule: the same steps as torch's own two classes built by hand, per-group peaks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training.optim import adamw_one_cycle, steps_per_epoch


def run(optimizer, scheduler, model: nn.Linear, steps: int) -> list[float]:
    g = torch.Generator().manual_seed(0)
    lrs = []
    for _ in range(steps):
        loss = model(torch.randn(4, 3, generator=g)).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


def test_same_as_adamw_and_one_cycle_built_by_hand():
    torch.manual_seed(0)
    a = nn.Linear(3, 2)
    b = nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    by_hand = torch.optim.AdamW(a.parameters(), lr=2e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(by_hand, max_lr=2e-3, total_steps=40, pct_start=0.05)
    expected = run(by_hand, schedule, a, 40)
    assert run(*adamw_one_cycle([(b.parameters(), 2e-3)], 0.01, 40, warmup=0.05), b, 40) == expected
    for name, tensor in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[name], tensor, rtol=0, atol=0)


def test_each_group_peaks_at_its_own_rate_at_the_end_of_warmup():
    encoder, decoder = nn.Linear(3, 3), nn.Linear(3, 2)
    optimizer, scheduler = adamw_one_cycle([(encoder.parameters(), 1e-4), (decoder.parameters(), 4e-4)], 1e-4, 10, 0.2)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [1e-4, 1e-4]
    lrs = []
    for _ in range(10):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert lrs[1] == pytest.approx([1e-4, 4e-4])  # warm-up ends after 20% of 10 steps
    assert max(lr for lr, _ in lrs) == pytest.approx(1e-4) and lrs[0][1] == pytest.approx(4e-4 / 25)


@pytest.mark.parametrize(("items", "batch", "steps"), [(10, 3, 4), (9, 3, 3), (1, 64, 1), (128, 128, 1)])
def test_steps_per_epoch_counts_the_short_last_batch(items, batch, steps):
    assert steps_per_epoch(items, batch) == steps


def test_sgd_one_cycle_is_nesterov_sgd_with_a_linear_warmup_and_anneal():
    from training.optim import sgd_one_cycle

    model = nn.Linear(3, 1)
    optimizer, scheduler = sgd_one_cycle(model.parameters(), 0.4, 5e-4, total_steps=20, warmup=0.25)
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.SGD) and group["nesterov"] and group["weight_decay"] == 5e-4
    lrs = run(optimizer, scheduler, model, 19)
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert lrs[peak] == pytest.approx(0.4) and 3 <= peak <= 5  # a quarter of the way
    rising, falling = lrs[: peak + 1], lrs[peak:]
    assert rising == sorted(rising) and falling == sorted(falling, reverse=True)
    steps_down = [a - b for a, b in zip(falling, falling[1:], strict=False)]
    assert max(steps_down) - min(steps_down) < 1e-6  # linear, not cosine
