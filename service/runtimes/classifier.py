"""Image classifier runtime: decoded images -> the manifest's recipe -> ONNX -> top-k labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.decoding.sampling import softmax
from service.runtimes.base import ArtifactError, ModelRuntime


@dataclass(frozen=True)
class Prediction:
    label: str
    index: int
    probability: float


class ClassifierRuntime(ModelRuntime):
    task = "classify"
    batch_call = "predict"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        recipe, labels = self.manifest.preprocessing, self.manifest.labels
        if recipe is None or not labels or "model" not in self.manifest.graphs:
            raise ArtifactError("a classify manifest needs a preprocessing recipe, labels and a 'model' graph")
        self.recipe, self.labels = recipe, labels
        graph = self.manifest.graphs["model"]
        self.input_name, self.output_name = graph.inputs[0].name, graph.outputs[0].name
        # A graph exported with a fixed batch of 1 (`dlserve package` accepts one) is called once per image.
        self.rows_per_call = 1 if graph.inputs[0].shape[:1] == [1] else None
        width = graph.outputs[0].shape[-1]
        if width > 0 and width != len(labels):
            raise ArtifactError(f"the model has {width} outputs but the manifest lists {len(labels)} labels")

    def v2_parameters(self, graph: str) -> dict[str, Any]:
        return {"preprocessing": self.recipe.model_dump(), "labels": self.labels}

    def warm_up(self) -> None:
        for batch in (1, int(self.manifest.batching.max_batch_size)):
            self.predict(np.zeros((batch, *self.recipe.shape), np.float32))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, *recipe shape) -> (B, classes) probabilities."""
        session, x = self.sessions["model"], batch.astype(np.float32)
        if self.rows_per_call is None:
            (logits,) = session.run([self.output_name], {self.input_name: x})
        else:
            logits = np.concatenate([session.run([self.output_name], {self.input_name: row[None]})[0] for row in x])
        return softmax(logits)

    def postprocess(self, probs: np.ndarray, top_k: int) -> list[list[Prediction]]:
        k = min(top_k, probs.shape[1])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [
            [Prediction(self.labels[i], int(i), float(p[i])) for i in row] for p, row in zip(probs, order, strict=True)
        ]
