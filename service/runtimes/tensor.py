"""Any ONNX graph (`dlserve package tensor`), served on /v2 only: named tensors in, named tensors out.

When the graph's first axis is dynamic in every input and output, and its manifest batches (packaging found
that rows do not interact), v2 requests are merged on that axis by the engine's dynamic batcher; otherwise each
request runs the graph on its own.
"""

from __future__ import annotations

import numpy as np

from service.runtimes.base import ArtifactError, ModelRuntime


class TensorRuntime(ModelRuntime):
    task = "tensor"
    batch_call = "infer"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        graphs = self.manifest.graphs
        if list(graphs) != ["model"]:
            raise ArtifactError(f"a tensor manifest has one graph, 'model'; this one has {sorted(graphs)}")
        graph = graphs["model"]
        self.outputs = [o.name for o in graph.outputs]
        first_axes = [t.shape[:1] for t in (*graph.inputs, *graph.outputs)]
        if self.manifest.batching.max_batch_size == 1 or any(axis != [-1] for axis in first_axes):
            self.batch_call = None  # this graph's requests cannot share a call: the engine builds no batcher

    def v2_batches(self, graph: str) -> bool:
        return self.batch_call is not None

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Named inputs of N rows -> every named output (N rows each when batched)."""
        return dict(zip(self.outputs, self.sessions["model"].run(self.outputs, feeds), strict=True))

    def warm_up(self) -> None:
        ref = self.manifest.reference
        feeds = {k: np.asarray(v.data, dtype=v.dtype) for k, v in ref.inputs.items()}
        self.infer(feeds)
        if self.batch_call is not None:  # the largest batch the engine forms, from the reference rows repeated
            rows = np.arange(self.manifest.batching.max_batch_size)
            self.infer({k: v[rows % len(v)] for k, v in feeds.items()})
