"""AlexNet-style CNN on CIFAR-10 colour photos: train, export to models/alexnet-cifar10/<v>/, evaluate."""

from __future__ import annotations

from typing import Any

from training.data import cifar10
from training.tasks.image_classifier import ImageClassifier, Split, Splits


class AlexNetCifar10(ImageClassifier, name="alexnet-cifar10", task="classify"):
    description = "AlexNet-style CNN (Krizhevsky et al. 2012, the reference paper's Figure 3) on CIFAR-10 photos"

    def splits(self) -> Splits:
        tr, te = cifar10.load_split(self.data_dir, "train"), cifar10.load_split(self.data_dir, "test")
        return Splits(Split(tr.images, tr.labels), Split(te.images, te.labels), list(cifar10.CLASSES))

    def dataset(self) -> dict[str, Any]:
        return {"name": "CIFAR-10", "files": cifar10.checksums()}
