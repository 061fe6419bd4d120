"""The image classifiers' family: an AlexNet-style CNN (or LeNet-5) trained on uint8 photos, exported with the
general image recipe (core/manifest.py `Image`) that the service applies to every upload.

A subclass names the model and brings its data through `splits()`: uint8 (N, H, W, C) arrays of the training and
held-out images with their labels, and the class names. Everything else (augmentation, optimizer, export with
test-time flips inside the graph, parity, the measured manifest) is shared: `alexnet-cifar10` and the
`image-folder` task for the user's own data differ only in where the images come from.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.manifest import ImageRecipe
from core.preprocessing.recipes import apply
from training import distributed, optim, quantize
from training.augment import random_translate_flip
from training.export import assert_parity, cpu_session, export_image_graph
from training.grid import write_grid
from training.models.alexnet import AlexNet, AlexNetConfig, FlipAveraged
from training.tasks import common
from training.tasks.base import Task

VAL_EVERY_EPOCH = 2000  # held-out images scored after each epoch (all of them at export)
PARITY_BATCHES = (1, 7, 64)
GRID_PHOTOS = 16


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64


@dataclass(frozen=True)
class Splits:
    train: Split
    held_out: Split  # the test split, or the validation images
    classes: list[str]


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 (N, H, W, C) images, in [0, 1], from at most 10,000 of them."""
    x = images[:: max(1, len(images) // 10000)].astype(np.float64) / 255
    return [round(float(v), 4) for v in x.mean((0, 1, 2))], [round(float(v), 4) for v in x.std((0, 1, 2))]


class ImageClassifier(Task):
    """A CNN image classifier on uint8 photos; subclasses supply `splits()`."""

    task = "classify"
    model_class, config_class = AlexNet, AlexNetConfig
    epochs, lr, batch_size = 16, 0.3, 512
    weight_decay = 5e-4
    warmup = 0.25
    quantized_goal = quantize.Goal(
        "accuracy", 0.002, metrics={"accuracy": "test_accuracy", "test_images": "test_images"}
    )

    @classmethod
    def add_train_args(cls, p: argparse.ArgumentParser) -> None:
        p.add_argument("--label-smoothing", type=float, default=0.2)
        p.add_argument("--dropout", type=float, default=0.25)
        p.add_argument("--translate", type=int, default=4, help="random shifts of up to N pixels (0: none)")
        p.add_argument("--no-flip", action="store_true", help="no random horizontal flips in training")
        p.add_argument("--no-batch-norm", action="store_true")

    def splits(self) -> Splits:
        raise NotImplementedError(f"{type(self).__name__} reads no images")

    @cached_property
    def data(self) -> Splits:
        """`splits()`, read (and verified) once however many steps of a command need it."""
        return self.splits()

    # --- train ----------------------------------------------------------------------------------------------------

    def setup(self) -> None:
        s = self.data
        train, held = s.train, s.held_out
        if self.args.dry_run:
            train, held = Split(train.images[:1024], train.labels[:1024]), Split(held.images[:256], held.labels[:256])
        self.classes = s.classes
        self.mean, self.std = channel_stats(train.images)
        self.raw = torch.from_numpy(train.images).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W) uint8
        self.labels = torch.from_numpy(train.labels)
        self.held_out = held

    def model_config(self) -> AlexNetConfig:
        a = self.args
        return AlexNetConfig(
            num_classes=len(self.classes),
            channels=int(self.raw.shape[1]),
            image_size=int(self.raw.shape[2]),
            dropout=a.dropout,
            batch_norm=not a.no_batch_norm,
            mean=self.mean,
            std=self.std,
        )

    def build_model(self) -> AlexNet:
        # channels-last runs the CPU's convolutions about a quarter faster; the weights are the same
        return super().build_model().to(memory_format=torch.channels_last)

    def steps_per_epoch(self) -> int:
        return optim.steps_per_epoch(len(self.raw), self.args.batch_size)

    def optimizer(self, model: AlexNet, epochs: int):
        return optim.sgd_one_cycle(
            model.parameters(), self.args.lr, self.weight_decay, self.schedule_steps(epochs), self.warmup
        )

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) floats in [0, 1] -> the network's input, channels-last."""
        mean = torch.tensor(self.config.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.config.std).view(1, -1, 1, 1)
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    def batches(self, epoch: int):
        a = self.args
        gen = common.epoch_generator(a.seed, epoch)
        order = torch.randperm(len(self.raw), generator=gen)
        for i in range(0, len(self.raw), a.batch_size):
            idx = distributed.shard(order[i : i + a.batch_size])
            x = self.raw[idx].float().div_(255)
            x = random_translate_flip(x, pad=a.translate, flip=not a.no_flip, generator=gen)
            yield self.normalise(x), self.labels[idx]

    def loss(self, model: AlexNet, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        logits = model(x)
        acc = (logits.argmax(1) == y).float().mean().item()
        return F.cross_entropy(logits, y, label_smoothing=self.args.label_smoothing), {"acc": acc}

    def held_out_logits(self, model: torch.nn.Module, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)
        return torch.cat([model(self.normalise(x[i : i + 500])) for i in range(0, len(x), 500)])

    def validate(self, model: AlexNet) -> dict[str, float]:
        held = Split(self.held_out.images[:VAL_EVERY_EPOCH], self.held_out.labels[:VAL_EVERY_EPOCH])
        pred = self.held_out_logits(model, held.images).argmax(1).numpy()
        return {"held_out_accuracy": float((pred == held.labels).mean())}

    def run_record(self) -> dict[str, Any]:
        a = self.args
        return {
            **super().run_record(),
            "optimizer": optim.SGD_NAME,
            "weight_decay": self.weight_decay,
            "label_smoothing": a.label_smoothing,
            "augment": {"translate_pixels": a.translate, "horizontal_flip": not a.no_flip},
            "classes": self.classes,
        }

    # --- export and evaluate --------------------------------------------------------------------------------------

    @classmethod
    def add_export_args(cls, p: argparse.ArgumentParser, command: str) -> None:
        if command == "export":
            p.add_argument("--no-flip-tta", action="store_true", help="export without test-time mirror averaging")
        else:
            p.set_defaults(no_flip_tta=False)

    def held_out_split(self) -> Split:
        held = self.data.held_out
        return Split(self.limited(held.images), self.limited(held.labels))

    def geometry(self, model: torch.nn.Module) -> tuple[int, int]:
        """(channels, side) of the network's input."""
        return model.config.channels, model.config.image_size

    def recipe_of(self, model: torch.nn.Module) -> ImageRecipe:
        """What the service does to an upload for this model: the training images' colour mode and size."""
        (channels, side), c = self.geometry(model), model.config
        mean, std = (c.mean, c.std) if isinstance(c.mean, list) else ([c.mean], [c.std])
        gray = "gray" if channels == 1 else "rgb"
        return ImageRecipe(kind="image", channels=gray, resize=(side, side), mean=mean, std=std)

    def flip_tta(self) -> bool:
        """Mirror averaging in the exported graph, for models trained on mirrored images."""
        return self.training_record()["augment"]["horizontal_flip"] and not self.args.no_flip_tta

    def served_graph(self, model: torch.nn.Module) -> torch.nn.Module:
        return FlipAveraged(model) if self.flip_tta() else model

    def export_graphs(self, model: AlexNet, out: Path) -> dict[str, Path]:
        path = out / "model.onnx"
        export_image_graph(self.served_graph(model), self.geometry(model), path)
        return {"model": path}

    def manifest_extras(self, model: AlexNet, out: Path) -> dict[str, Any]:
        recipe, classes = self.recipe_of(model), list(self.training_record()["classes"])
        held = self.held_out_split()
        x = served_inputs(recipe, held.images)
        graph = self.served_graph(model)
        session = cpu_session(out / "model.onnx")
        diffs = {b: assert_parity(graph, session, {"image": x[:b]}, atol=1e-4) for b in PARITY_BATCHES}
        print(f"parity max abs diff by batch size: {diffs}")
        probs = onnx_probabilities(out / "model.onnx", x)
        scores = classification_scores(probs.argmax(1), held.labels, classes)
        metrics = {"test_accuracy": scores.pop("accuracy"), "test_images": len(held.labels)}
        if self.flip_tta():  # what the mirror averaging gains, measured the same way
            with TemporaryDirectory() as tmp:
                export_image_graph(model, self.geometry(model), Path(tmp) / "plain.onnx")
                plain = onnx_probabilities(Path(tmp) / "plain.onnx", x).argmax(1)
            metrics["test_accuracy_without_flip_tta"] = round(float((plain == held.labels).mean()), 6)
        print(f"onnxruntime accuracy through the service's preprocessing on {len(x)} images: {metrics}")
        pick = np.arange(min(GRID_PHOTOS, len(x)))
        titles = [grid_title(classes, probs[i], int(held.labels[i])) for i in pick]
        write_grid(out / "examples.png", [Image.fromarray(held.images[i].squeeze()) for i in pick], titles)
        return {
            "preprocessing": recipe.model_dump(mode="json"),
            "labels": classes,
            "metrics": metrics,
            "evaluation": scores,
            "parity": {"max_abs_diff": max(diffs.values()), "batch_sizes": list(PARITY_BATCHES)},
            "test_time_augmentation": "mean logits of the image and its mirror" if self.flip_tta() else "none",
        }

    def reference(self, model: AlexNet, out: Path) -> tuple[str, dict[str, np.ndarray]]:
        held = self.data.held_out
        return "model", {"image": served_inputs(self.recipe_of(model), held.images[:2])}

    def calibration(self, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
        """512 training photos spread over the split, through the recipe the service runs on uploads."""
        train = self.data.train.images
        return {
            "image": served_inputs(ImageRecipe(**manifest["preprocessing"]), train[:: max(1, len(train) // 512)][:512])
        }

    def test_scores(self, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        held = self.held_out_split()
        x = served_inputs(ImageRecipe(**manifest["preprocessing"]), held.images)
        preds = onnx_probabilities(folder / "model.onnx", x).argmax(1)
        return {"test_images": len(held.labels), **classification_scores(preds, held.labels, manifest["labels"])}


def served_inputs(recipe: ImageRecipe, images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) photos -> the model's input, through the recipe code the service runs on uploads."""
    return np.stack([apply(recipe, Image.fromarray(img.squeeze()), f"#{i}") for i, img in enumerate(images)])


def onnx_probabilities(path: Path, x: np.ndarray) -> np.ndarray:
    session = cpu_session(path)
    logits = np.concatenate([session.run(None, {"image": x[i : i + 250]})[0] for i in range(0, len(x), 250)])
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def classification_scores(preds: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, per-class accuracy and the confusion matrix (rows: true class, columns: predicted)."""
    n = len(classes)
    confusion = np.bincount(labels * n + preds, minlength=n * n).reshape(n, n)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
    return {
        "accuracy": round(float((preds == labels).mean()), 6),
        "per_class_accuracy": {c: round(float(a), 4) for c, a in zip(classes, per_class, strict=True)},
        "confusion_matrix": confusion.tolist(),
    }


def grid_title(classes: list[str], probs: np.ndarray, label: int) -> str:
    pred = int(probs.argmax())
    mark = "" if pred == label else f" (true: {classes[label]})"
    return f"{classes[pred]} {probs[pred]:.0%}{mark}"
