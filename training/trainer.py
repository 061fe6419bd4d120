"""One generic trainer: seed, progress bar, per-epoch checkpoint and resume, evaluation hook.

It knows nothing about any particular model: a task hands it the model, an optimizer, a function that
yields the batches of an epoch, a loss function and an evaluation function.

Under torchrun (training/distributed.py) the same code trains data-parallel: the model is wrapped in
DistributedDataParallel, each rank's `epoch_batches` yields its share of every global batch, the logged
training metrics are averaged over the ranks, and rank 0 alone evaluates, prints and checkpoints.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from training import distributed

Batch = Any
LossFn = Callable[[nn.Module, Batch], tuple[torch.Tensor, dict[str, float]]]
EvalFn = Callable[[nn.Module], dict[str, float]]


@dataclass
class TrainerConfig:
    epochs: int = 10
    seed: int = 0
    max_steps: int | None = None  # stop after this many optimizer steps in total (smoke runs)
    grad_clip: float | None = None  # max global grad norm
    checkpoint_dir: Path | None = None
    resume: bool = False
    progress: bool = True
    keep_snapshots: int = 0  # also keep the weights of the last N epochs (weights-epochNNN.pt), for averaging


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    train_seconds: float = 0.0
    # CPU time of the process (all its threads). Unlike wall time it does not grow while other work has the
    # machine, so cpu_seconds / threads is what the run would take on the machine alone.
    cpu_seconds: float = 0.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _config_dict(config: Any) -> dict[str, Any]:
    return asdict(config) if is_dataclass(config) else dict(config)


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Tensors in a batch (a tensor, or tuples, lists and dicts of them) moved to `device`; the rest as is."""
    if device.type == "cpu":
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple | list):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def snapshots(run_dir: Path) -> list[Path]:
    """The per-epoch weight snapshots a run kept (TrainerConfig.keep_snapshots), oldest first."""
    return sorted(Path(run_dir).glob("weights-epoch[0-9][0-9][0-9].pt"))


def average_last(run_dir: Path, k: int) -> tuple[list[int], dict[str, torch.Tensor]]:
    """The epochs of a run's last `k` snapshots and their averaged weights; exits saying how to keep them."""
    kept = snapshots(run_dir)[-k:]
    if len(kept) < k:
        raise SystemExit(
            f"--average-last {k}: the run kept {len(kept)} epoch snapshot(s) in {run_dir}; "
            "train with --keep-snapshots K (K >= the number to average)"
        )
    return [int(p.stem.removeprefix("weights-epoch")) for p in kept], average_weights(kept)


def average_weights(paths: list[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the floating-point tensors of several state_dicts (checkpoint averaging,
    Vaswani et al. 2017); integer buffers (counters) are taken from the last one."""
    states = [torch.load(p, map_location="cpu", weights_only=True) for p in paths]
    averaged = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            averaged[key] = torch.stack([s[key] for s in states]).mean(0)
        else:
            averaged[key] = last
    return averaged


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        config: TrainerConfig,
        model_config: Any,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    ) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.config, self.model_config = config, model_config
        self.history = History()
        self.start_epoch = 0
        self.device = distributed.device()  # this rank's GPU under NCCL, else the CPU

    @property
    def checkpoint_path(self) -> Path | None:
        d = self.config.checkpoint_dir
        return None if d is None else Path(d) / "checkpoint.pt"

    def save_checkpoint(self, epoch: int) -> None:
        path = self.checkpoint_path
        if path is None or not distributed.is_main():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "state_dict": self.model.state_dict(),
            "config": _config_dict(self.model_config),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "epoch": epoch,
            "history": asdict(self.history),
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
            },
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # atomic: a kill mid-write never leaves a torn checkpoint
        (path.parent / "history.json").write_text(json.dumps(asdict(self.history), indent=2))
        if self.config.keep_snapshots:
            snapshot = path.parent / f"weights-epoch{epoch + 1:03d}.pt"
            torch.save(state["state_dict"], tmp)
            tmp.replace(snapshot)
            for old in snapshots(path.parent)[: -self.config.keep_snapshots]:
                old.unlink()

    def load_checkpoint(self) -> bool:
        path = self.checkpoint_path
        if path is None or not path.exists():
            return False
        state = torch.load(path, weights_only=False, map_location="cpu")  # copied onto the model's device
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler and state["scheduler"]:
            self.scheduler.load_state_dict(state["scheduler"])
        h = state["history"]
        self.history = History(
            epochs=h["epochs"],
            steps=h["steps"],
            train_seconds=h["train_seconds"],
            cpu_seconds=h.get("cpu_seconds", 0.0),
        )
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        self.start_epoch = state["epoch"] + 1
        return True

    def eval_model(self) -> nn.Module:
        """The model the evaluation hook gets: the trained module itself, or a CPU copy of it when training on
        a GPU (the tasks' evaluation data lives on the CPU)."""
        return self.model if self.device.type == "cpu" else copy.deepcopy(self.model).cpu()

    def fit(self, epoch_batches: Callable[[int], Iterable[Batch]], loss_fn: LossFn, evaluate: EvalFn) -> History:
        """Train for `config.epochs` epochs (or `max_steps` steps), evaluating and checkpointing each epoch."""
        cfg = self.config
        main = distributed.is_main()
        seed_everything(cfg.seed)
        self.model.to(self.device)  # in place: the optimizer keeps the same parameters
        if cfg.resume and self.load_checkpoint() and main:
            print(f"resumed from {self.checkpoint_path} at epoch {self.start_epoch}")
        train_model = distributed.wrap(self.model)  # DDP in a process group: rank 0's weights reach every rank
        for epoch in range(self.start_epoch, cfg.epochs):
            t0, cpu0 = time.perf_counter(), time.process_time()
            train_model.train()
            total, n = 0.0, 0
            metric_sums: dict[str, float] = {}
            bar = tqdm(
                epoch_batches(epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (cfg.progress and main)
            )
            for batch in bar:
                loss, metrics = loss_fn(train_model, to_device(batch, self.device))
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
                if self.scheduler:
                    self.scheduler.step()
                self.history.steps += 1
                total, n = total + loss.item(), n + 1
                for k, v in metrics.items():
                    metric_sums[k] = metric_sums.get(k, 0.0) + v
                bar.set_postfix(loss=f"{total / n:.4f}", **{k: f"{v / n:.4f}" for k, v in metric_sums.items()})
                if cfg.max_steps is not None and self.history.steps >= cfg.max_steps:
                    break
            # Each rank saw its share of every batch, as many batches as the others: average over the ranks.
            means = distributed.mean({"loss": total / max(n, 1), **{k: v / max(n, 1) for k, v in metric_sums.items()}})
            self.model.eval()
            scores: dict[str, float] = {}
            if main:  # the others go on to the next epoch and wait for rank 0 in its first all-reduce
                with torch.no_grad():
                    scores = evaluate(self.eval_model())
            self.history.train_seconds += time.perf_counter() - t0  # wall time, evaluation included
            self.history.cpu_seconds += time.process_time() - cpu0
            row = {
                "epoch": epoch + 1,
                "train_loss": means.pop("loss"),
                **{f"train_{k}": v for k, v in means.items()},
                **scores,
                "seconds": self.history.train_seconds,
                "cpu_seconds": round(self.history.cpu_seconds, 1),
            }
            self.history.epochs.append(row)
            if main:
                print(json.dumps(row), flush=True)
            self.save_checkpoint(epoch)
            if cfg.max_steps is not None and self.history.steps >= cfg.max_steps:
                break
        distributed.check_replicas(self.model)
        return self.history
