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
    # Named arrays in and out, as a v2 request sends them: typed and v2 requests share one batcher.
    batch_call = "infer"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        recipe, labels = self.manifest.preprocessing, self.manifest.labels
        if recipe is None or not labels or "model" not in self.manifest.graphs:
            raise ArtifactError("a classify manifest needs a preprocessing recipe, labels and a 'model' graph")
        self.recipe, self.labels = recipe, labels
        graph = self.manifest.graphs["model"]
        self.input_name, self.output_name = graph.inputs[0].name, graph.outputs[0].name
        self.output_names = [o.name for o in graph.outputs]
        # A graph exported with a fixed batch of 1 (`dlserve package` accepts one) is called once per image.
        self.rows_per_call = 1 if graph.inputs[0].shape[:1] == [1] else None
        width = graph.outputs[0].shape[-1]
        if width > 0 and width != len(labels):
            raise ArtifactError(f"the model has {width} outputs but the manifest lists {len(labels)} labels")

    def v2_batches(self, graph: str) -> bool:
        return graph == "model"

    def v2_parameters(self, graph: str) -> dict[str, Any]:
        return {"preprocessing": self.recipe.model_dump(), "labels": self.labels}

    def warm_up(self) -> None:
        for batch in (1, int(self.manifest.batching.max_batch_size)):
            self.predict(np.zeros((batch, *self.recipe.shape), np.float32))

    def feeds(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Preprocessed images (N, *recipe shape) as the graph's named input."""
        return {self.input_name: rows.astype(np.float32, copy=False)}

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Named inputs of N rows -> every named output of the graph, N rows each."""
        session, names = self.sessions["model"], self.output_names
        if self.rows_per_call is None:
            return dict(zip(names, session.run(names, feeds), strict=True))
        n = len(next(iter(feeds.values())))
        parts = [session.run(names, {k: v[i : i + 1] for k, v in feeds.items()}) for i in range(n)]
        return {name: np.concatenate([p[j] for p in parts]) for j, name in enumerate(names)}

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, *recipe shape) -> (B, classes) probabilities."""
        return softmax(self.infer(self.feeds(batch))[self.output_name])

    def postprocess(self, outputs: dict[str, np.ndarray], top_k: int) -> list[list[Prediction]]:
        """The graph's outputs for N images -> the top_k labels of each, most probable first."""
        probs = softmax(outputs[self.output_name])
        k = min(top_k, probs.shape[1])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [
            [Prediction(self.labels[i], int(i), float(p[i])) for i in row] for p, row in zip(probs, order, strict=True)
        ]
