"""Pieces every task entry point shares: command-line options, checkpoint loading, run folders."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import torch

from training import distributed
from training.paths import MODELS_DIR, RUNS_DIR, default_data_dir
from training.trainer import History, TrainerConfig


def add_train_args(p: argparse.ArgumentParser, epochs: int, lr: float, batch_size: int) -> None:
    p.add_argument(
        "--data-dir", type=Path, default=None, help="dataset root (default: $DLSERVE_DATA or ../shared/data)"
    )
    p.add_argument("--run-dir", type=Path, default=None, help="checkpoint folder (default: runs/<model>)")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    p.add_argument("--dry-run", action="store_true", help="a few steps on a small subset, for smoke tests")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs one line per epoch)")


def add_export_args(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--checkpoint", type=Path, default=None, help=f"default: runs/{name}/checkpoint.pt")
    p.add_argument("--out", type=Path, default=None, help=f"model folder (default: models/{name}/1)")
    p.add_argument("--eval-limit", type=int, default=None, help="evaluate on the first N test items only")


def data_dir(args: argparse.Namespace) -> Path:
    return args.data_dir or default_data_dir()


def run_dir(args: argparse.Namespace, name: str) -> Path:
    return args.run_dir or RUNS_DIR / name


def trainer_config(args: argparse.Namespace, name: str) -> TrainerConfig:
    return TrainerConfig(
        epochs=1 if args.dry_run else args.epochs,
        seed=args.seed,
        max_steps=(args.max_steps or 5) if args.dry_run else args.max_steps,
        checkpoint_dir=run_dir(args, name),
        resume=args.resume,
        progress=not args.no_progress,
    )


def load_checkpoint(args: argparse.Namespace, name: str) -> dict[str, Any]:
    path = args.checkpoint or RUNS_DIR / name / "checkpoint.pt"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: run `dlserve train {name}` first or pass --checkpoint")
    return torch.load(path, weights_only=False, map_location="cpu")


def finish_run(run_dir: Path, extra: dict[str, Any], history: History) -> None:
    """Record the run's settings next to its checkpoint and say it is done: rank 0 only under torchrun."""
    if not distributed.is_main():
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "train_args.json").write_text(json.dumps(extra))
    print(f"done: {history.steps} steps in {history.train_seconds:.1f}s")


def out_dir(args: argparse.Namespace, name: str) -> Path:
    return args.out or MODELS_DIR / name / "1"


def training_record(ckpt: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """What the manifest says about how the model was trained."""
    h = ckpt["history"]
    return {
        "model_config": ckpt["config"],
        **extra,
        "epochs": len(h["epochs"]),
        "steps": h["steps"],
        "seconds": round(h["train_seconds"], 1),
        "machine": f"{platform.machine()} CPU x{torch.get_num_threads()} threads, torch {torch.__version__}",
        "history": h["epochs"],
    }
