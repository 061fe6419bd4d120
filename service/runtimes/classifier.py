"""Image classifier runtime: decoded digit images -> normalized batch -> ONNX -> top-k labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.decoding.sampling import softmax
from service.preprocessing.digits import mnist_digit
from service.preprocessing.images import to_grayscale
from service.runtimes.base import ArtifactError, ModelRuntime


@dataclass(frozen=True)
class Prediction:
    label: str
    index: int
    probability: float


class ClassifierRuntime(ModelRuntime):
    task = "classify"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        pre, labels = self.manifest.preprocessing, self.manifest.labels
        if not pre or pre.get("kind") != "mnist-digit" or not labels:
            raise ArtifactError("a classify manifest needs preprocessing.kind 'mnist-digit' and labels")
        self.size, self.fit = int(pre["input_size"]), int(pre["fit_size"])
        self.mean, self.std = float(pre["mean"]), float(pre["std"])
        self.labels = labels
        graph = self.manifest.graphs["model"]
        self.input_name, self.output_name = graph.inputs[0].name, graph.outputs[0].name

    def warm_up(self) -> None:
        for batch in (1, int(self.manifest.batching.max_batch_size)):
            self.predict(np.zeros((batch, 1, self.size, self.size), np.float32))

    def preprocess(self, image: Image.Image, name: str) -> np.ndarray:
        """One decoded image -> (1, size, size) float32, normalized as in training."""
        digit = mnist_digit(to_grayscale(image), name, self.size, self.fit)
        return ((digit - self.mean) / self.std)[None]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, 1, size, size) -> (B, classes) probabilities."""
        (logits,) = self.sessions["model"].run([self.output_name], {self.input_name: batch.astype(np.float32)})
        return softmax(logits)

    def postprocess(self, probs: np.ndarray, top_k: int) -> list[list[Prediction]]:
        k = min(top_k, probs.shape[1])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [
            [Prediction(self.labels[i], int(i), float(p[i])) for i in row] for p, row in zip(probs, order, strict=True)
        ]
