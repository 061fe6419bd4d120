"""LeNet-5 on MNIST: train, export to models/lenet5-mnist/<v>/, evaluate."""

from __future__ import annotations

import argparse
from functools import cached_property
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.preprocessing import recipes
from training import digit_styles, distributed, optim, quantize
from training.augment import random_affine, random_stroke_width
from training.data import mnist
from training.export import assert_parity, cpu_session, export_image_graph
from training.models.lenet import SHIFTS, LeNet5, LeNetConfig, ShiftAveraged
from training.tasks import common
from training.tasks.base import Task

PARITY_BATCHES = (1, 7, 64)
STROKE_RANGE = {"max_thicken": 1.0, "max_thin": 0.5}  # --stroke: how far a digit moves to its dilation or erosion
# The manifest's test_time_augmentation, by --tta (the views each moved on a canvas a pixel larger each way).
TTA_TEXT = {
    "none": "none",
    "shift": "mean logits of the digit and of it moved one pixel each way",
    "diagonal": "mean logits of the digit and of it moved one pixel along each diagonal",
}


def to_input(images: np.ndarray, config: LeNetConfig) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32, (x/255 - mean) / std."""
    x = torch.from_numpy(images).float().div_(255).unsqueeze(1)
    return (x - config.mean) / config.std


def onnx_test_error(path: Path, te: mnist.MnistSplit, config: LeNetConfig) -> float:
    """The graph's error on the test digits as MNIST stores them (raw tensors, no recipe)."""
    return onnx_error(path, to_input(te.images, config).numpy(), te.labels)


def served_test_error(path: Path, te: mnist.MnistSplit, recipe: dict[str, Any]) -> float:
    """The error a user gets: each test digit encoded as a PNG file, decoded by Pillow and prepared by the
    manifest's recipe with the code the service runs on every upload (core.preprocessing.recipes.apply)."""
    rows = digit_styles.served_rows(recipe, [digit_styles.upload(img, "png") for img in te.images])
    return onnx_error(path, rows, te.labels)


def onnx_error(path: Path, x: np.ndarray, labels: np.ndarray) -> float:
    return float((digit_styles.predicted(path, x) != labels).mean())


class LeNetMnist(Task, name="lenet5-mnist", task="classify"):
    description = "LeNet-5 (LeCun et al. 1998) handwritten digit classifier trained on MNIST"
    data_parallel = True  # each rank takes its share of every batch
    model_class, config_class = LeNet5, LeNetConfig
    epochs, lr, batch_size = 40, 2e-3, 128
    default = True  # /v1/classify without ?model= classifies digits, as it did before the photo classifier
    quantized_goal = quantize.Goal(
        "test_error_served", 0.001, higher_is_better=False,
        metrics={k: k for k in ("test_error", "test_accuracy", "test_images", "test_error_served")},
    )  # fmt: skip

    @classmethod
    def add_train_args(cls, p: argparse.ArgumentParser) -> None:
        p.add_argument("--no-augment", action="store_true", help="train without random affine distortions")
        p.add_argument("--dropout", type=float, default=0.0)
        p.add_argument("--batch-norm", action="store_true", help="batch normalisation after each layer but the last")
        p.add_argument(
            "--elastic",
            type=float,
            default=0.0,
            metavar="ALPHA",
            help="elastic distortions of ALPHA pixels (Simard et al. 2003 use 34 with sigma 4); 0 turns them off",
        )
        p.add_argument("--elastic-sigma", type=float, default=4.0)
        p.add_argument(
            "--stroke",
            type=float,
            default=0.0,
            metavar="P",
            help="make the strokes of a share P of the training digits thicker or thinner (0 turns it off)",
        )
        p.add_argument(
            "--holdout",
            type=int,
            default=0,
            metavar="N",
            help="hold the last N training digits out and report their error each epoch (for choosing settings)",
        )

    @cached_property
    def test_split(self) -> mnist.MnistSplit:
        return mnist.load_split(self.data_dir, "t10k")

    def limited_test(self) -> mnist.MnistSplit:
        return mnist.MnistSplit(self.limited(self.test_split.images), self.limited(self.test_split.labels))

    # --- train ----------------------------------------------------------------------------------------------------

    def setup(self) -> None:
        tr, te = mnist.load_split(self.data_dir, "train"), self.test_split
        if self.args.dry_run:
            tr = mnist.MnistSplit(tr.images[:1024], tr.labels[:1024])
            self.test_split = mnist.MnistSplit(te.images[:256], te.labels[:256])
        if not 0 <= self.args.stroke <= 1:
            raise SystemExit(f"--stroke is the share of digits to change, between 0 and 1, got {self.args.stroke}")
        self.holdout = None
        if self.args.holdout:
            if not 0 < self.args.holdout < len(tr.labels):
                raise SystemExit(f"--holdout must be between 1 and {len(tr.labels) - 1}, got {self.args.holdout}")
            n = len(tr.labels) - self.args.holdout
            self.holdout = mnist.MnistSplit(tr.images[n:], tr.labels[n:])
            tr = mnist.MnistSplit(tr.images[:n], tr.labels[:n])
        self.raw = torch.from_numpy(tr.images).float().div_(255).unsqueeze(1)  # (N, 1, 28, 28) in [0, 1]
        self.labels = torch.from_numpy(tr.labels)

    def model_config(self) -> LeNetConfig:
        return LeNetConfig(dropout=self.args.dropout, batch_norm=self.args.batch_norm)

    def steps_per_epoch(self) -> int:
        return optim.steps_per_epoch(len(self.raw), self.args.batch_size)

    def batches(self, epoch: int):
        bs, config = self.args.batch_size, self.config
        gen = common.epoch_generator(self.args.seed, epoch)
        order = torch.randperm(len(self.raw), generator=gen)
        for i in range(0, len(self.raw), bs):
            idx = distributed.shard(order[i : i + bs])  # this rank's share; all of it when alone
            x = self.raw[idx]
            if not self.args.no_augment:
                if self.args.stroke:
                    x = random_stroke_width(x, self.args.stroke, **STROKE_RANGE, generator=gen)
                x = random_affine(
                    x, generator=gen, elastic_alpha=self.args.elastic, elastic_sigma=self.args.elastic_sigma
                )
            yield (x - config.mean) / config.std, self.labels[idx]

    def loss(self, model: LeNet5, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        logits = model(x)
        acc = (logits.argmax(1) == y).float().mean().item()
        return F.cross_entropy(logits, y), {"acc": acc}

    def validate(self, model: LeNet5) -> dict[str, float]:
        scores = {"test_error": self.error(model, self.test_split)}
        if self.holdout is not None:
            scores["holdout_error"] = self.error(model, self.holdout)
        return scores

    def error(self, model: LeNet5, split: mnist.MnistSplit) -> float:
        x, y = to_input(split.images, self.config), torch.from_numpy(split.labels)
        pred = torch.cat([model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
        return (pred != y).float().mean().item()

    def run_record(self) -> dict[str, Any]:
        augment = not self.args.no_augment
        record = {**super().run_record(), "augment": augment}
        if augment and self.args.elastic:
            record["elastic"] = {"alpha": self.args.elastic, "sigma": self.args.elastic_sigma}
        if augment and self.args.stroke:
            record["stroke_width"] = {"share": self.args.stroke, **STROKE_RANGE}
        if self.args.holdout:
            record["holdout"] = self.args.holdout
        return record

    # --- export and evaluate --------------------------------------------------------------------------------------

    @classmethod
    def add_export_args(cls, p: argparse.ArgumentParser, command: str) -> None:
        if command == "export":
            p.add_argument(
                "--tta", choices=["none", *SHIFTS], default="none",
                help="the graph averages the logits of the digit and of it moved one pixel: up, down, left and "
                "right (shift) or along the diagonals (diagonal)",
            )  # fmt: skip

    def served_graph(self, model: LeNet5) -> torch.nn.Module:
        return ShiftAveraged(model, SHIFTS[self.args.tta]).eval() if self.args.tta != "none" else model

    def export_graphs(self, model: LeNet5, out: Path) -> dict[str, Path]:
        path = out / "model.onnx"
        export_image_graph(self.served_graph(model), (1, 28), path)
        return {"model": path}

    def manifest_extras(self, model: LeNet5, out: Path) -> dict[str, Any]:
        config, te, graph = model.config, self.test_split, self.served_graph(model)
        session = cpu_session(out / "model.onnx")
        diffs = {
            b: assert_parity(graph, session, {"image": to_input(te.images[:b], config).numpy()}, atol=1e-4)
            for b in PARITY_BATCHES
        }
        print(f"parity max abs diff by batch size: {diffs}")
        test = self.limited_test()
        recipe = {"kind": "mnist-digit", "input_size": 28, "fit_size": 20, "mean": config.mean, "std": config.std,
                  "ink": "light-on-dark"}  # fmt: skip
        error = onnx_test_error(out / "model.onnx", test, config)
        served = served_test_error(out / "model.onnx", test, recipe)
        print(f"onnxruntime test error on {len(test.labels)} images: {error:.4%} raw, {served:.4%} as PNG uploads")
        return {
            "preprocessing": recipe,
            "labels": [str(i) for i in range(10)],
            "metrics": {
                "test_error": round(error, 6),
                "test_accuracy": round(1 - error, 6),
                "test_error_served": round(served, 6),
                "test_images": int(len(test.labels)),
                **self.holdout_errors(model, out / "model.onnx"),
            },
            "test_time_augmentation": TTA_TEXT[self.args.tta],
            "metrics_method": {
                "test_error": "the test digits as MNIST stores them, (x/255 - mean) / std, into the graph",
                "test_error_served": "each test digit as a PNG file through the service's decoding and recipe",
            },
            "parity": {"max_abs_diff": max(diffs.values()), "batch_sizes": list(PARITY_BATCHES)},
        }

    def holdout_errors(self, model: LeNet5, path: Path) -> dict[str, float]:
        """For a run with --holdout, the exported graph's error on the held-out training digits; with --tta, also
        the network's own without the averaging (held-out and test): the figures to choose --tta by."""
        n, plain = self.training_record().get("holdout"), None
        errors: dict[str, float] = {}
        with TemporaryDirectory() as tmp:
            if self.args.tta != "none":
                export_image_graph(model, (1, 28), plain := Path(tmp) / "plain.onnx")
                errors["test_error_without_tta"] = onnx_test_error(plain, self.limited_test(), model.config)
            if n:
                train = mnist.load_split(self.data_dir, "train")
                held = mnist.MnistSplit(self.limited(train.images[-n:]), self.limited(train.labels[-n:]))
                errors["holdout_error"] = onnx_test_error(path, held, model.config)
                if plain:
                    errors["holdout_error_without_tta"] = onnx_test_error(plain, held, model.config)
        print(f"without test-time averaging and on held-out training digits: {errors}")
        return {k: round(v, 6) for k, v in errors.items()}

    def reference(self, model: LeNet5, out: Path) -> tuple[str, dict[str, np.ndarray]]:
        return "model", {"image": to_input(self.test_split.images[:2], model.config).numpy()}

    def dataset(self) -> dict[str, Any]:
        return {"name": "MNIST", "files": mnist.checksums(self.data_dir)}

    def calibration(self, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
        """512 training digits, every 117th, through the recipe the service runs on uploads."""
        images, parsed = (
            mnist.load_split(self.data_dir, "train").images[::117][:512],
            recipes.parse(manifest["preprocessing"]),
        )
        return {
            "image": np.stack([recipes.apply(parsed, Image.fromarray(img), f"#{i}") for i, img in enumerate(images)])
        }

    def test_scores(self, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        config = LeNetConfig(**manifest["training"]["model_config"])
        test = self.limited_test()
        error = onnx_test_error(folder / "model.onnx", test, config)
        served = served_test_error(folder / "model.onnx", test, manifest["preprocessing"])
        return {"test_images": len(test.labels), "test_error": error, "test_accuracy": 1 - error,
                "test_error_served": served}  # fmt: skip
