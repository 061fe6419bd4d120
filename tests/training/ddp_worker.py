"""A tiny synthetic task for tests/training/test_distributed.py, run alone or under torchrun.

    python tests/training/ddp_worker.py OUT GLOBAL_BATCH             # one process
    torchrun --standalone --nproc_per_node 2 tests/training/ddp_worker.py OUT GLOBAL_BATCH

It trains a small MLP with the project's Trainer for two epochs on fixed random data; each rank writes its final
weights and history to OUT/rank<r>.pt so the test can compare the replicas with each other and with one process.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from training import distributed
from training.trainer import Trainer, TrainerConfig


def main(out: Path, global_batch: int) -> None:
    with distributed.session():
        data = torch.Generator().manual_seed(1)
        x = torch.randn(256, 8, generator=data)  # (N, 8)
        y = (x @ torch.randn(8, 3, generator=data)).argmax(1)  # (N,) three classes
        torch.manual_seed(0)  # the same initial weights on every rank (DDP would broadcast rank 0's anyway)
        model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        order = torch.Generator().manual_seed(2)

        def epoch_batches(epoch: int):
            perm = torch.randperm(len(x), generator=order)
            for i in range(0, len(x), global_batch):
                idx = distributed.shard(perm[i : i + global_batch])
                yield x[idx], y[idx]

        def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
            xb, yb = batch
            logits = m(xb)
            return F.cross_entropy(logits, yb), {"rows": float(len(yb))}

        def evaluate(m: nn.Module) -> dict[str, float]:
            return {"full_loss": F.cross_entropy(m(x), y).item()}

        config = TrainerConfig(epochs=2, seed=0, checkpoint_dir=out / "run", progress=False)
        history = Trainer(model, optimizer, config, {"kind": "synthetic"}).fit(epoch_batches, loss_fn, evaluate)
        result = {"state_dict": model.state_dict(), "history": asdict(history), "world": distributed.world_size(),
                  "broadcast": distributed.broadcast({"from_rank": distributed.rank()})}  # fmt: skip
        torch.save(result, out / f"rank{distributed.rank()}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
