"""What every peer app shares: the committed LeNet-5 graph in onnxruntime with one intra-op thread (as dlserve's
default), dlserve's own digit preprocessing, and the typed endpoint's top-3 answer."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from core.model_folders import latest_version

# The version dlserve serves by default, so that every server runs the same graph.
MODEL = latest_version(Path(__file__).resolve().parents[2] / "models" / "lenet5-mnist")
NAME = "lenet5-mnist"
MAX_PIXELS = 40_000_000


def session(threads: int = 1) -> ort.InferenceSession:
    """The graph as dlserve's sessions.py opens it on the CPU."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(MODEL / "model.onnx"), options, providers=["CPUExecutionProvider"])


class Digits:
    """base64 PNG -> the normalised (1, 28, 28) float32 row, with dlserve's preprocessing functions (as
    bench/litserve_app.py): open_image, to_grayscale, mnist_digit, then (x - mean) / std from the manifest."""

    def __init__(self) -> None:
        # Imported here, not at the top: the v2 peers never decode images, and their venvs need no FastAPI.
        from core.preprocessing.color import to_grayscale
        from core.preprocessing.digits import mnist_digit
        from service.preprocessing.images import open_image

        self.open, self.gray, self.digit = open_image, to_grayscale, mnist_digit
        pre = json.loads((MODEL / "manifest.json").read_text())["preprocessing"]
        self.mean, self.std, self.size, self.fit = pre["mean"], pre["std"], pre["input_size"], pre["fit_size"]

    def __call__(self, b64: str) -> np.ndarray:
        img = self.open(base64.b64decode(b64), "image", MAX_PIXELS)
        return ((self.digit(self.gray(img), "image", self.size, self.fit) - self.mean) / self.std)[None].astype(
            np.float32
        )


def top3(logits: np.ndarray) -> list[dict]:
    """Per row of logits: {"predictions": the 3 best labels with their softmax probabilities}."""
    z = np.exp(logits - logits.max(1, keepdims=True))
    probs = z / z.sum(1, keepdims=True)
    return [
        {"predictions": [{"label": str(i), "index": int(i), "probability": float(p[i])} for i in np.argsort(-p)[:3]]}
        for p in probs
    ]
