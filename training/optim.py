"""The optimizer and learning-rate schedule every task trains with: AdamW under a one-cycle schedule.

Each parameter group brings its own peak learning rate (the captioner's fine-tuning stage gives its CNN a
quarter of the decoder's); the schedule warms up over the first `warmup` share of `total_steps`, then anneals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

NAME = "AdamW + OneCycleLR"  # how run records and manifests name this pair

ParamGroup = tuple[Iterable[nn.Parameter], float]  # parameters, their peak learning rate


def steps_per_epoch(items: int, batch_size: int) -> int:
    """How many batches of `batch_size` an epoch over `items` makes, the last one short."""
    return (items + batch_size - 1) // batch_size


def adamw_one_cycle(
    groups: Sequence[ParamGroup], weight_decay: float, total_steps: int, warmup: float = 0.3
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.OneCycleLR]:
    """AdamW over `groups`, and OneCycleLR from each group's peak rate over `total_steps` optimizer steps."""
    optimizer = torch.optim.AdamW([{"params": p, "lr": lr} for p, lr in groups], weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[lr for _, lr in groups], total_steps=total_steps, pct_start=warmup
    )
    return optimizer, scheduler


SGD_NAME = "SGD (Nesterov momentum) + OneCycleLR"


def sgd_one_cycle(
    params: Iterable[nn.Parameter], lr: float, weight_decay: float, total_steps: int, warmup: float = 0.25
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.OneCycleLR]:
    """Nesterov SGD under a linear one-cycle schedule: the recipe of the fast CIFAR-10 training runs, which
    generalises better than AdamW on convolutional nets trained for few epochs."""
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=total_steps, pct_start=warmup, anneal_strategy="linear"
    )
    return optimizer, scheduler
