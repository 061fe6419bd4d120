"""What every task's command line and manifest share: the options of train/export/evaluate, the training record."""

from __future__ import annotations

import argparse
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch


def add_train_args(
    p: argparse.ArgumentParser, epochs: int, lr: float, batch_size: int, keep_snapshots: int = 0
) -> None:
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
    p.add_argument(
        "--keep-snapshots", type=int, default=keep_snapshots, metavar="K",
        help=f"keep the last K epochs' weights for export --average-last (default {keep_snapshots})",
    )  # fmt: skip


def add_export_args(p: argparse.ArgumentParser, name: str, command: str = "export") -> None:
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--checkpoint", type=Path, default=None, help=f"default: runs/{name}/checkpoint.pt")
    p.add_argument("--out", type=Path, default=None, help=f"model folder (default: models/{name}/1)")
    p.add_argument("--eval-limit", type=int, default=None, help="evaluate on the first N test items only")
    p.add_argument(
        "--average-last", type=positive, default=1, metavar="K",
        help="export the mean of the weights of the run's last K epochs (kept by train --keep-snapshots)",
    )  # fmt: skip
    if command == "export":
        p.add_argument(
            "--quantize", choices=["int8"], default=None,
            help="write an int8 copy of an exported version as the next version (training/quantize.py)",
        )  # fmt: skip
        p.add_argument(
            "--from-version", type=positive, default=None, metavar="N",
            help="with --quantize: the float version to quantize (default: the newest one); without: export "
            "version N's weights again, read from its graphs (training/reexport.py), into --out",
        )  # fmt: skip


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1), e.g. a dropout rate."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def version_of(out: Path) -> int:
    """A model folder's version: its name (models/<model>/<version>/), 1 for a folder not named by a number."""
    return int(out.name) if out.name.isdigit() else 1


def training_record(ckpt: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """What the manifest says about how the model was trained."""
    h = ckpt["history"]
    return {
        "model_config": ckpt["config"],
        **extra,
        "epochs": len(h["epochs"]),
        "steps": h["steps"],
        "seconds": round(h["train_seconds"], 1),
        **({"cpu_seconds": round(h["cpu_seconds"], 1)} if h.get("cpu_seconds") else {}),
        "machine": f"{platform.machine()} CPU x{torch.get_num_threads()} threads, torch {torch.__version__}",
        "history": h["epochs"],
    }


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's shuffling and augmentation, mixed from the run's seed and the epoch number.

    Drawn afresh each epoch rather than from one generator kept for the whole run, so a run resumed at epoch k
    draws exactly what an uninterrupted run draws there, with nothing extra in the checkpoint."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0])


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A torch generator seeded with `epoch_seed`."""
    return torch.Generator().manual_seed(epoch_seed(seed, epoch))
