"""LeNet-5 on MNIST: train, export to models/lenet5-mnist/<v>/, evaluate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from training import distributed
from training.augment import random_affine
from training.data import mnist
from training.export import (
    assert_parity,
    code_commit,
    cpu_session,
    export_onnx,
    graph_entry,
    reference_pair,
    write_manifest,
)
from training.models.lenet import LeNet5, LeNetConfig
from training.tasks import common
from training.trainer import Trainer

NAME = "lenet5-mnist"
DATA_PARALLEL = True  # trains under torchrun: each rank takes its share of every batch
PARITY_BATCHES = (1, 7, 64)


def to_input(images: np.ndarray, config: LeNetConfig) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32, (x/255 - mean) / std."""
    x = torch.from_numpy(images).float().div_(255).unsqueeze(1)
    return (x - config.mean) / config.std


def add_arguments(
    train: argparse.ArgumentParser, export: argparse.ArgumentParser, evaluate: argparse.ArgumentParser
) -> None:
    common.add_train_args(train, epochs=40, lr=2e-3, batch_size=128)
    train.add_argument("--no-augment", action="store_true", help="train without random affine distortions")
    train.add_argument("--dropout", type=float, default=0.0)
    common.add_export_args(export, NAME)
    common.add_export_args(evaluate, NAME)


def train(args: argparse.Namespace) -> None:
    data_dir = common.data_dir(args)
    tr, te = mnist.load_split(data_dir, "train"), mnist.load_split(data_dir, "t10k")
    if args.dry_run:
        tr = mnist.MnistSplit(tr.images[:1024], tr.labels[:1024])
        te = mnist.MnistSplit(te.images[:256], te.labels[:256])
    config = LeNetConfig(dropout=args.dropout)
    tcfg = common.trainer_config(args, NAME)
    torch.manual_seed(args.seed)
    model = LeNet5(config)
    raw = torch.from_numpy(tr.images).float().div_(255).unsqueeze(1)  # (N, 1, 28, 28) in [0, 1]
    labels = torch.from_numpy(tr.labels)
    test_x, test_y = to_input(te.images, config), torch.from_numpy(te.labels)
    steps_per_epoch = (len(raw) + args.batch_size - 1) // args.batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=tcfg.epochs * steps_per_epoch
    )
    gen = torch.Generator().manual_seed(args.seed)

    def epoch_batches(epoch: int):
        order = torch.randperm(len(raw), generator=gen)
        for i in range(0, len(raw), args.batch_size):
            idx = distributed.shard(order[i : i + args.batch_size])  # this rank's share; all of it when alone
            x = raw[idx] if args.no_augment else random_affine(raw[idx], generator=gen)
            yield (x - config.mean) / config.std, labels[idx]

    def loss_fn(model: LeNet5, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        logits = model(x)
        acc = (logits.argmax(1) == y).float().mean().item()
        return F.cross_entropy(logits, y), {"acc": acc}

    def evaluate(model: LeNet5) -> dict[str, float]:
        pred = torch.cat([model(test_x[i : i + 1000]).argmax(1) for i in range(0, len(test_x), 1000)])
        return {"test_error": (pred != test_y).float().mean().item()}

    trainer = Trainer(model, optimizer, tcfg, config, scheduler)
    history = trainer.fit(epoch_batches, loss_fn, evaluate)
    ckpt_extra = {
        "batch_size": args.batch_size,
        "lr": args.lr,
        "augment": not args.no_augment,
        "optimizer": "AdamW + OneCycleLR",
    }
    common.finish_run(common.run_dir(args, NAME), ckpt_extra, history)


def build(ckpt: dict[str, Any]) -> LeNet5:
    model = LeNet5(LeNetConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def onnx_test_error(path: Path, te: mnist.MnistSplit, config: LeNetConfig) -> float:
    session = cpu_session(path)
    x = to_input(te.images, config).numpy()
    preds = np.concatenate([session.run(None, {"image": x[i : i + 500]})[0].argmax(1) for i in range(0, len(x), 500)])
    return float((preds != te.labels).mean())


def export(args: argparse.Namespace) -> None:
    ckpt = common.load_checkpoint(args, NAME)
    model, config = build(ckpt), LeNetConfig(**ckpt["config"])
    out = common.out_dir(args, NAME)
    path = out / "model.onnx"
    export_onnx(
        model,
        (torch.zeros(2, 1, 28, 28),),
        path,
        ["image"],
        ["logits"],
        {"image": {0: "batch"}, "logits": {0: "batch"}},
    )
    data_dir = common.data_dir(args)
    te = mnist.load_split(data_dir, "t10k")
    session = cpu_session(path)
    diffs = {
        b: assert_parity(model, session, {"image": to_input(te.images[:b], config).numpy()}, atol=1e-4)
        for b in PARITY_BATCHES
    }
    print(f"parity max abs diff by batch size: {diffs}")
    images = te.images[: args.eval_limit] if args.eval_limit else te.images
    labels = te.labels[: args.eval_limit] if args.eval_limit else te.labels
    error = onnx_test_error(path, mnist.MnistSplit(images, labels), config)
    print(f"onnxruntime test error on {len(labels)} images: {error:.4%}")
    run = (
        common.RUNS_DIR / NAME / "train_args.json"
        if args.checkpoint is None
        else args.checkpoint.parent / "train_args.json"
    )
    extra = json.loads(run.read_text()) if run.exists() else {}
    manifest = {
        "name": NAME,
        "version": int(out.name) if out.name.isdigit() else 1,
        "task": "classify",
        "description": "LeNet-5 (LeCun et al. 1998) handwritten digit classifier trained on MNIST",
        "graphs": {"model": graph_entry(path)},
        "preprocessing": {
            "kind": "mnist-digit",
            "input_size": 28,
            "fit_size": 20,
            "mean": config.mean,
            "std": config.std,
            "ink": "light-on-dark",
        },
        "labels": [str(i) for i in range(10)],
        "metrics": {
            "test_error": round(error, 6),
            "test_accuracy": round(1 - error, 6),
            "test_images": int(len(labels)),
        },
        "parity": {"max_abs_diff": max(diffs.values()), "batch_sizes": list(PARITY_BATCHES)},
        "dataset": {"name": "MNIST", "files": mnist.checksums(data_dir)},
        "training": common.training_record(ckpt, extra),
        "code_commit": code_commit(),
        "reference": reference_pair(session, "model", {"image": to_input(te.images[:2], config).numpy()}),
        "batching": {"max_batch_size": 64, "max_delay_ms": 2},
    }
    write_manifest(out, manifest)
    print(f"wrote {out}")


def evaluate(args: argparse.Namespace) -> None:
    manifest = json.loads((common.out_dir(args, NAME) / "manifest.json").read_text())
    config = LeNetConfig(**manifest["training"]["model_config"])
    te = mnist.load_split(common.data_dir(args), "t10k")
    if args.eval_limit:
        te = mnist.MnistSplit(te.images[: args.eval_limit], te.labels[: args.eval_limit])
    error = onnx_test_error(common.out_dir(args, NAME) / "model.onnx", te, config)
    print(json.dumps({"model": NAME, "test_images": len(te.labels), "test_error": error, "test_accuracy": 1 - error}))
