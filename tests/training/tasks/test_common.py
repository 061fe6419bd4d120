"""The shared command-line pieces of every task, and the per-epoch seeds that make a resumed run draw what an
uninterrupted one draws."""

from __future__ import annotations

import argparse

import pytest
import torch

from training.tasks import common
from training.tasks.base import registered


def test_epoch_seeds_are_fixed_by_the_seed_and_the_epoch_and_differ_between_them():
    seeds = {(s, e): common.epoch_seed(s, e) for s in range(3) for e in range(50)}
    assert len(set(seeds.values())) == len(seeds)  # no two (seed, epoch) pairs share one
    assert all(common.epoch_seed(s, e) == v for (s, e), v in seeds.items())
    a, b = common.epoch_generator(0, 7), common.epoch_generator(0, 7)
    assert torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))


def fresh_task(name: str, data_dir, run_dir):
    cls = registered()[name]
    task = cls(cls.parser("train").parse_args(["--dry-run", "--data-dir", str(data_dir), "--run-dir", str(run_dir)]))
    task.setup()
    task.model = task.build_model()
    return task


@pytest.mark.parametrize("name", ["lenet5-mnist", "charlstm-shakespeare", "gru-en-de"])
def test_a_resumed_epoch_draws_what_an_uninterrupted_run_draws(name, data_dir, tmp_path):
    uninterrupted = fresh_task(name, data_dir, tmp_path / "a")
    for epoch in (0, 1):
        for _ in uninterrupted.batches(epoch):
            pass
    resumed = fresh_task(name, data_dir, tmp_path / "b")  # what a run resumed at epoch 2 starts from
    straight, first = next(iter(uninterrupted.batches(2))), next(iter(resumed.batches(2)))
    for r, s in zip(first, straight, strict=True):
        assert torch.equal(r, s)
    other = next(iter(resumed.batches(1)))
    assert not all(torch.equal(r, o) for r, o in zip(first, other, strict=True))  # each epoch draws anew


def test_probability_accepts_0_up_to_1_and_names_the_range_otherwise():
    assert (common.probability("0"), common.probability("0.1")) == (0.0, 0.1)
    for text in ("1", "-0.1", "often", "nan"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"expected a number in \[0, 1\), got"):
            common.probability(text)
