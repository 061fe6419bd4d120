"""Repository models as v2 models: a one-graph model is one v2 model under its own name; a model with several
graphs (encoder + decoder step) exposes each as `<model>.<graph>`, e.g. `gru-en-fr.encoder`."""

from __future__ import annotations

from dataclasses import dataclass

import onnxruntime as ort

from core.manifest import GraphSpec
from service.errors import ModelNotFound, ModelNotReady
from service.repository import ModelEntry, ModelRepository, Status
from service.runtimes.base import ModelRuntime
from service.schemas.v2 import ModelMetadata, TensorMetadata
from service.v2.datatypes import from_numpy

PLATFORM = "onnxruntime_onnx"


@dataclass(frozen=True)
class Target:
    name: str  # the v2 model name
    entry: ModelEntry
    graph: str
    spec: GraphSpec

    @property
    def runtime(self) -> ModelRuntime:
        if self.entry.runtime is None:  # unloaded since it was resolved
            raise ModelNotReady(f"model {self.entry.name!r} is {self.entry.status.value}")
        return self.entry.runtime

    @property
    def session(self) -> ort.InferenceSession:
        return self.runtime.sessions[self.graph]


def v2_names(entry: ModelEntry) -> list[str]:
    graphs = sorted(entry.manifest.graphs) if entry.manifest else []
    return [entry.name] if len(graphs) == 1 else [f"{entry.name}.{g}" for g in graphs]


def _split(repository: ModelRepository, name: str) -> tuple[ModelEntry, str | None]:
    if name in repository.entries:
        return repository.entries[name], None
    base, _, graph = name.rpartition(".")
    if base in repository.entries:
        return repository.entries[base], graph
    every = sorted(n for e in list(repository.entries.values()) for n in v2_names(e))
    raise ModelNotFound(f"model {name!r} not found; v2 models: {every or 'none'}")


def resolve(repository: ModelRepository, name: str, version: str | None = None) -> Target:
    """The served graph behind a v2 model name (and version), or 404 / 503 saying why not."""
    entry, graph = _split(repository, name)
    if entry.status != Status.ready or entry.manifest is None or entry.runtime is None:
        detail = f": {entry.reason}" if entry.reason else ""
        raise ModelNotReady(f"model {entry.name!r} is {entry.status.value}{detail}")
    graphs = entry.manifest.graphs
    if graph is None:
        if len(graphs) != 1:
            raise ModelNotFound(f"model {name!r} has several graphs, each a v2 model: {v2_names(entry)}")
        graph = next(iter(graphs))
    if graph not in graphs:
        raise ModelNotFound(f"model {entry.name!r} has no graph {graph!r}; v2 models: {v2_names(entry)}")
    if version is not None and version != str(entry.version):
        raise ModelNotFound(f"model {name!r} has no version {version!r} loaded; it serves version {entry.version}")
    return Target(name, entry, graph, graphs[graph])


def metadata(target: Target) -> ModelMetadata:
    def tensors(specs) -> list[TensorMetadata]:
        return [TensorMetadata(name=s.name, datatype=from_numpy(s.dtype), shape=s.shape) for s in specs]

    return ModelMetadata(
        name=target.name,
        versions=[str(target.entry.version)],
        platform=PLATFORM,
        inputs=tensors(target.spec.inputs),
        outputs=tensors(target.spec.outputs),
        parameters=target.runtime.v2_parameters(target.graph),
    )
