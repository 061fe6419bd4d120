"""`dlserve train|export|evaluate image-folder --name NAME`: an image classifier on the user's own photos.

    dlserve train image-folder --data-dir DIR --name NAME [--arch alexnet|lenet5] [--image-size N] [--epochs N]
    dlserve export image-folder --name NAME [--model-dir DIR]
    dlserve evaluate image-folder --name NAME --data-dir DIR

DIR holds train/<class>/<images> and optionally val/<class>/<images> (training/data/image_folder.py checks it
before training starts). Every image is converted and squashed by the general image recipe to --image-size, the
same code that serves the model, so training sees what the service will send. The run lives in runs/NAME and
exports to <model-dir>/NAME/<next version>/.
"""

from __future__ import annotations

import argparse
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.manifest import ImageRecipe
from core.model_folders import check_name, latest_version, next_version
from core.preprocessing.images import image_tensor
from training.data import image_folder
from training.models.alexnet import AlexNet, AlexNetConfig
from training.models.lenet import LeNet5, LeNetConfig
from training.paths import MODELS_DIR
from training.tasks.image_classifier import ImageClassifier, Split, Splits

ARCHS = {"alexnet": (AlexNet, AlexNetConfig), "lenet5": (LeNet5, LeNetConfig)}
DEFAULT_SIZE = {"alexnet": 32, "lenet5": 28}


class ImageFolder(ImageClassifier, name="image-folder", task="classify"):
    description = "image classifier trained on an image folder"
    epochs, lr, batch_size = 30, 0.05, 128

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        try:
            self.name = check_name(args.name)  # this model's name, not the task's
        except ValueError as e:
            raise SystemExit(f"--name: {e}") from None

    @classmethod
    def add_train_args(cls, p: argparse.ArgumentParser) -> None:
        super().add_train_args(p)
        p.add_argument("--name", required=True, help="the model's name in the repository")
        p.add_argument("--arch", choices=sorted(ARCHS), default="alexnet")
        p.add_argument("--image-size", type=int, default=None, help="input side (default 32; lenet5: 28)")
        p.add_argument("--skip-bad-images", action="store_true", help="train without images Pillow cannot read")

    @classmethod
    def add_export_args(cls, p: argparse.ArgumentParser, command: str) -> None:
        super().add_export_args(p, command)
        p.add_argument("--name", required=True, help="the model's name, as trained")
        p.add_argument("--model-dir", type=Path, default=None, help="the model repository (default: models/)")
        p.set_defaults(command=command)

    # --- where things are -----------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        if self.args.data_dir:
            return self.args.data_dir
        return Path(self.training_record()["data_dir"])  # export: the folder it was trained on

    @property
    def out_dir(self) -> Path:
        if self.args.out:
            return self.args.out
        folder = (self.args.model_dir or MODELS_DIR) / self.name
        if self.args.command == "evaluate":  # the newest version; export writes the next one
            newest = latest_version(folder) if folder.is_dir() else None
            if newest is None:
                raise SystemExit(f"no exported model {folder}: run `dlserve export image-folder --name {self.name}`")
            return newest
        return folder / str(next_version(folder))

    @cached_property
    def settings(self) -> dict[str, Any]:
        """How the images are read: from the options when training, from the run record afterwards."""
        if hasattr(self.args, "arch"):
            arch = self.args.arch
            size = self.args.image_size or DEFAULT_SIZE[arch]
            return {"arch": arch, "image_size": size, "seed": self.args.seed, "skip_bad": self.args.skip_bad_images}
        r = self.training_record()
        return {k: r[k] for k in ("arch", "image_size", "seed", "skip_bad")}

    def recipe(self) -> ImageRecipe:
        """Decode -> colour mode -> squash to the training size, as pixels 0..255 (the network's input is
        normalised from these)."""
        s = self.settings["image_size"]
        gray = self.settings["arch"] == "lenet5"
        return ImageRecipe(kind="image", channels="gray" if gray else "rgb", resize=(s, s), scale=1, layout="nhwc")

    # --- data -----------------------------------------------------------------------------------------------------

    def splits(self) -> Splits:
        arch, size = self.settings["arch"], self.settings["image_size"]
        if arch == "lenet5" and size != 28:
            raise SystemExit(f"--image-size {size}: lenet5 takes 28x28 images (LeNet-5's geometry)")
        if arch == "alexnet" and (size % 8 or (size > 32 and size % 32)):
            raise SystemExit(f"--image-size {size}: alexnet takes 8, 16, 24, 32 or a multiple of 32")
        try:
            listing = image_folder.scan(self.data_dir, self.settings["seed"], self.settings["skip_bad"])
        except image_folder.ImageFolderError as e:
            raise SystemExit(f"dlserve {self.name}: {e}") from None
        if listing.skipped:
            print(f"skipping {len(listing.skipped)} unreadable image(s) (--skip-bad-images)")
        recipe = self.recipe()

        def to_pixels(img) -> np.ndarray:
            return np.clip(np.rint(image_tensor(recipe, img)), 0, 255).astype(np.uint8)

        train = image_folder.load(listing.train, to_pixels, "reading train")
        held = image_folder.load(listing.val, to_pixels, "reading val")
        if not len(held[1]):
            raise SystemExit(f"{self.data_dir}: no images to validate on (give val/ or at least two per class)")
        self.listing = listing
        return Splits(Split(*train), Split(*held), listing.classes)

    # --- model ----------------------------------------------------------------------------------------------------

    def model_config(self) -> AlexNetConfig | LeNetConfig:
        if self.settings["arch"] == "alexnet":
            return super().model_config()
        a = self.args
        return LeNetConfig(num_classes=len(self.classes), dropout=a.dropout, mean=self.mean[0], std=self.std[0])

    def build_model(self) -> torch.nn.Module:
        model_class, _ = ARCHS[self.settings["arch"]]
        self.config = self.model_config()
        return model_class(self.config).to(memory_format=torch.channels_last)

    def load(self) -> torch.nn.Module:
        model_class, config_class = ARCHS[self.settings["arch"]]
        model = model_class(config_class(**self.checkpoint["config"]))
        model.load_state_dict(self.weights())
        return model.eval()

    def run_record(self) -> dict[str, Any]:
        listing = self.listing
        return {
            **super().run_record(),
            **self.settings,
            "data_dir": str(Path(self.data_dir).resolve()),
            "train_images": len(listing.train),
            "val_images": len(listing.val),
            "val_from": "10% of train, stratified" if listing.held_out_from_train else "val/",
        }

    def dataset(self) -> dict[str, Any]:
        return {"name": "image folder", "path": self.training_record()["data_dir"]}
