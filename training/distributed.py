"""Data-parallel training under torchrun: process group, rank helpers, batch sharding, metric averaging.

`dlserve train` runs unchanged under `torchrun --nproc_per_node N` (one machine) or with `--nnodes`
(several): torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and MASTER_ADDR/PORT, and `session()` joins the process
group from them, with NCCL when the process has a GPU, else Gloo. Without torchrun (WORLD_SIZE unset or 1)
every helper here is a no-op and the process trains alone.

The batch size a task is given stays the global batch: each rank takes its share of every global batch
(`shard`), DistributedDataParallel averages the gradients over the ranks, so each optimizer step sees the same
examples and, up to float rounding, the same gradient as a single process would; schedules and step counts do
not change with the number of processes.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
from collections.abc import Iterator, Sequence
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def active() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0, or a single process: the one that logs, checkpoints and writes files."""
    return rank() == 0


def device() -> torch.device:
    """This rank's device: its own GPU (LOCAL_RANK) under NCCL, else the CPU."""
    if active() and dist.get_backend() == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Join torchrun's process group for the duration (when WORLD_SIZE > 1), then leave it."""
    if env_world_size() <= 1 or active():
        yield
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    try:
        yield
        # Every rank reaches this point before any tears down: a rank leaving while another's gloo threads are
        # still talking to it aborts the process ("terminate called without an active exception").
        dist.barrier()
    finally:
        # A DDP wrapper left in a reference cycle would be freed at interpreter exit, after the group is gone,
        # and gloo aborts when its pending work is destroyed then: free it while everything is still alive.
        gc.collect()
        dist.destroy_process_group()


def shard(items: Sequence[T] | torch.Tensor) -> list[T] | torch.Tensor:
    """This rank's share of a global batch (index list or tensor), as DistributedSampler cuts a dataset:
    padded by wrapping around to a multiple of the world size, then every world_size-th item from this rank.

    Every rank gets the same number of items, so the ranks run the same number of steps (a rank with fewer
    would leave the others waiting in an all-reduce), and the shares of a batch divisible by the world size
    together are exactly that batch.
    """
    world = world_size()
    if world == 1:
        return items if isinstance(items, torch.Tensor) else list(items)
    n = len(items)
    if n == 0:
        raise ValueError("cannot shard an empty batch")
    total = math.ceil(n / world) * world
    picks = [i % n for i in range(rank(), total, world)]
    if isinstance(items, torch.Tensor):
        return items[torch.tensor(picks)]
    return [items[i] for i in picks]


def wrap(model: nn.Module) -> nn.Module:
    """The module to train: DistributedDataParallel around `model` in a process group, `model` itself alone.

    DDP broadcasts rank 0's parameters and buffers when it is built, so every replica starts identical.
    """
    if not active():
        return model
    dev = device()
    # find_unused_parameters: the trainer knows nothing of the model, and some models hold parameters that a
    # training forward pass does not use (the translator's, for one); DDP then waits for no gradient of theirs.
    return DistributedDataParallel(
        model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True
    )


def mean(values: dict[str, float]) -> dict[str, float]:
    """Average each metric over the ranks (one all-reduce); unchanged for a single process."""
    if not active() or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / world_size() for k, v in zip(keys, t.tolist(), strict=True)}


def broadcast(obj: T) -> T:
    """Rank 0's `obj` on every rank (pickled); unchanged for a single process. For data drawn at random
    outside torch's seeded generators, which the ranks must share."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if active():
        dist.barrier()


def check_replicas(model: nn.Module) -> None:
    """Raise if the ranks' parameters differ (they must not: DDP keeps them in step). One all-gather of a
    per-tensor fingerprint (float64 sums of values and squares); a no-op for a single process."""
    if not active():
        return
    tensors = [*model.parameters(), *model.buffers()]
    local = torch.tensor(
        [v for t in tensors for v in (t.double().sum().item(), t.double().square().sum().item())],
        dtype=torch.float64,
        device=device(),
    )
    gathered = [torch.empty_like(local) for _ in range(world_size())]
    dist.all_gather(gathered, local)
    for other, fingerprint in enumerate(gathered):
        if not torch.equal(fingerprint, gathered[0]):
            raise RuntimeError(f"rank {other}'s weights differ from rank 0's after training: replicas out of sync")
