"""The model runtime: the one class a model family writes to be served.

A runtime subclass declares its `task` (which registers it: a manifest whose `task` names it is served by it,
or a manifest names a runtime by import path), and how the engine batches it:

- `batch_call`: the name of a method taking rows (N, ...) and returning rows; the engine merges requests into
  one call (dynamic batching) and runs it in a worker thread.
- `step_spec`: a `StepSpec` of its decoder step graph; the engine's scheduler advances the live sequences of all
  requests together, one step call per iteration (continuous batching). Its jobs feed and consume the step.
- both (an encoder batched, then decoder steps scheduled), or neither (one call per request). An instance may
  set `batch_call = None` when its graph cannot be batched after all (a tensor graph with a fixed batch).

What every runtime gets here: each graph of the manifest loaded into onnxruntime after its sha256 is checked,
the reference pair re-run, the manifest's preprocessing recipe applied by `preprocess`, and `run_step`.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort
from PIL import Image

from core.checksums import file_sha256
from core.graph_specs import check_reference
from core.manifest import Manifest
from core.preprocessing import recipes
from service.runtimes.sessions import create_session, primary_provider
from service.runtimes.spec import EngineKind, StepSpec, engine_kind


class ArtifactError(RuntimeError):
    """A model folder's files do not match its manifest."""


class ModelRuntime:
    """Loads every graph of a model folder, verifies checksums and the reference pair; subclasses add hooks."""

    task: ClassVar[str] = ""
    batch_call: ClassVar[str | None] = None
    step_spec: ClassVar[StepSpec | None] = None
    registry: ClassVar[dict[str, type[ModelRuntime]]] = {}

    def __init_subclass__(cls, register: bool = True, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if register and "task" in cls.__dict__ and cls.task:
            known = ModelRuntime.registry.get(cls.task)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise TypeError(f"task {cls.task!r} is already served by {known.__module__}.{known.__qualname__}")
            ModelRuntime.registry[cls.task] = cls

    def __init__(self, manifest: Manifest, folder: Path, policy: str, intra_op_threads: int = 0) -> None:
        self.manifest, self.folder = manifest, folder
        self.sessions: dict[str, ort.InferenceSession] = {}
        for key, graph in manifest.graphs.items():
            path = folder / graph.file
            if not path.is_file():
                raise ArtifactError(f"graph {key!r}: file {graph.file} is missing")
            digest = file_sha256(path)
            if digest != graph.sha256:
                raise ArtifactError(f"graph {key!r}: {graph.file} has sha256 {digest}, manifest says {graph.sha256}")
            self.sessions[key] = create_session(path, policy, intra_op_threads)
        if self.step_spec is not None:
            if self.step_spec.graph not in self.sessions:
                raise ArtifactError(
                    f"a {self.task} model needs a {self.step_spec.graph!r} graph; it has {sorted(self.sessions)}"
                )
            # The exporter drops inputs a graph does not use (the attention-free captioner has no `keys`).
            self.step_inputs = {i.name for i in self.sessions[self.step_spec.graph].get_inputs()}
        self.check_reference()

    @classmethod
    def engine_kind(cls) -> EngineKind:
        return engine_kind(cls.batch_call is not None, cls.step_spec is not None)

    @property
    def provider(self) -> str:
        return primary_provider(next(iter(self.sessions.values())))

    def warm_up(self) -> None:
        """Run representative shapes once so the first real request does not pay for allocations."""

    def v2_batches(self, graph: str) -> bool:
        """Whether v2 requests to `graph` go through the engine's batcher, which then calls `batch_call` with
        the request's named input arrays and returns every named output; False: each runs the graph alone."""
        return False

    def v2_parameters(self, graph: str) -> dict[str, Any] | None:
        """Extra fields of `graph`'s v2 metadata that tell a client what to send (None: nothing to add)."""
        return None

    def activity(self) -> dict[str, int] | None:
        """Live counters shown in /v1/models (e.g. generations in progress); None when there are none."""
        return None

    def preprocess(self, image: Image.Image, name: str) -> np.ndarray:
        """One decoded image -> one row, by the manifest's preprocessing recipe (`name` is for errors)."""
        if self.manifest.preprocessing is None:
            raise ArtifactError(f"model {self.manifest.name!r} declares no preprocessing recipe")
        return recipes.apply(self.manifest.preprocessing, image, name)

    def run_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The decoder step graph on named inputs -> its named outputs (what the scheduler calls)."""
        assert self.step_spec is not None, "run_step needs a StepSpec"
        session = self.sessions[self.step_spec.graph]
        outs = session.run(list(self.step_spec.outputs), {k: v for k, v in feeds.items() if k in self.step_inputs})
        return dict(zip(self.step_spec.outputs, outs, strict=True))

    def check_reference(self) -> float:
        """Re-run the manifest's reference input; raise ArtifactError when any output differs beyond atol."""
        ref = self.manifest.reference
        if ref.graph not in self.sessions:
            raise ArtifactError(f"reference names graph {ref.graph!r}, which the manifest does not declare")
        try:
            return check_reference(self.sessions[ref.graph], ref)
        except ValueError as e:
            raise ArtifactError(str(e)) from None


def load_builtin_runtimes() -> None:
    """Import every module of service/runtimes, so that each runtime class in them registers its task."""
    package = importlib.import_module("service.runtimes")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"service.runtimes.{module.name}")


def runtime_class(manifest: Manifest) -> type[ModelRuntime]:
    """The manifest's runtime: its `runtime` import path, else the runtime registered for its task."""
    if manifest.runtime:
        module_name, _, class_name = manifest.runtime.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"runtime {manifest.runtime!r} cannot be imported: {e}") from None
        if not (isinstance(cls, type) and issubclass(cls, ModelRuntime)):
            raise ValueError(f"runtime {manifest.runtime!r} is not a ModelRuntime subclass")
        return cls
    load_builtin_runtimes()
    cls = ModelRuntime.registry.get(manifest.task)
    if cls is None:
        known = sorted(ModelRuntime.registry)
        raise ValueError(f"task {manifest.task!r} has no runtime; known tasks: {known}")
    return cls
