"""The model repository: discovers `models/<name>/<version>/`, loads each model, tracks its status."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError

from service.engine.engines import Engine, make_engine
from service.errors import InvalidInput, ModelNotFound, ModelNotReady
from service.manifest import Manifest
from service.metrics import Metrics
from service.runtimes.base import ModelRuntime
from service.runtimes.captioner import CaptionerRuntime
from service.runtimes.classifier import ClassifierRuntime
from service.runtimes.generator import GeneratorRuntime
from service.runtimes.translator import TranslatorRuntime
from service.settings import Settings

log = logging.getLogger("dlserve")

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
RUNTIMES: dict[str, type[ModelRuntime]] = {
    "caption": CaptionerRuntime,
    "classify": ClassifierRuntime,
    "generate": GeneratorRuntime,
    "translate": TranslatorRuntime,
}


class Status(StrEnum):
    loading = "loading"
    ready = "ready"
    failed = "failed"


@dataclass
class ModelEntry:
    name: str
    folder: Path
    version: int | None = None
    status: Status = Status.loading
    reason: str | None = None
    manifest: Manifest | None = None
    runtime: ModelRuntime | None = field(default=None, repr=False)
    engine: Engine | None = field(default=None, repr=False)
    load_seconds: float | None = None


def latest_version(model_folder: Path) -> Path | None:
    versions = [p for p in model_folder.iterdir() if p.is_dir() and p.name.isdigit() and int(p.name) > 0]
    return max(versions, key=lambda p: int(p.name), default=None)


def read_manifest(folder: Path) -> Manifest:
    path = folder / "manifest.json"
    if not path.is_file():
        raise ValueError(f"{path} is missing")
    try:
        return Manifest.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise ValueError(f"manifest.json is not valid JSON: {e}") from None
    except ValidationError as e:
        raise ValueError(f"manifest.json is invalid: {e.error_count()} error(s): {e.errors()[0]['msg']}") from None


class ModelRepository:
    def __init__(
        self,
        settings: Settings,
        runtimes: dict[str, type[ModelRuntime]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.runtimes = RUNTIMES if runtimes is None else runtimes
        self.entries: dict[str, ModelEntry] = {}
        self.loaded = threading.Event()

    def discover(self) -> None:
        root = Path(self.settings.model_dir)
        if not root.is_dir():
            log.error("model directory %s does not exist", root)
            return
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name)):
            self.entries[folder.name] = ModelEntry(name=folder.name, folder=folder)

    def load(self, entry: ModelEntry) -> None:
        started = time.perf_counter()
        try:
            version_dir = latest_version(entry.folder)
            if version_dir is None:
                raise ValueError(f"no numbered version folder in {entry.folder}")
            entry.version = int(version_dir.name)
            manifest = read_manifest(version_dir)
            entry.manifest = manifest
            if manifest.name != entry.name:
                raise ValueError(f"manifest names model {manifest.name!r} but its folder is {entry.name!r}")
            runtime_cls = self.runtimes.get(manifest.task)
            if runtime_cls is None:
                raise ValueError(f"task {manifest.task!r} is not served; served tasks: {sorted(self.runtimes)}")
            runtime = runtime_cls(manifest, version_dir, self.settings.providers, self.settings.intra_op_threads)
            runtime.warm_up()  # representative shapes, before the model counts as ready
            entry.runtime, entry.engine = runtime, make_engine(entry.name, runtime, self.settings, self.metrics)
            entry.status, entry.reason = Status.ready, None
            entry.load_seconds = time.perf_counter() - started
            self.metrics.load_seconds.labels(entry.name, str(entry.version), runtime.provider).set(entry.load_seconds)
            log.info(
                "model %s v%s ready on %s in %.2fs", entry.name, entry.version, runtime.provider, entry.load_seconds
            )
        except Exception as e:  # any failure marks this model failed; the others still serve
            entry.status, entry.reason = Status.failed, f"{type(e).__name__}: {e}"
            log.error("model %s failed to load: %s", entry.name, entry.reason)
        provider = entry.runtime.provider if entry.runtime else "none"
        self.metrics.model_status.labels(entry.name, str(entry.version), provider, entry.status.value).set(1)

    def load_all(self) -> None:
        self.discover()
        for entry in self.entries.values():
            self.load(entry)
        self.loaded.set()

    def is_ready(self) -> bool:
        if not self.loaded.is_set() or not self.entries:
            return False
        states = [e.status == Status.ready for e in self.entries.values()]
        return all(states) if self.settings.readiness == "all" else any(states)

    def get(self, name: str) -> ModelEntry:
        entry = self.entries.get(name)
        if entry is None:
            raise ModelNotFound(f"model {name!r} not found; available models: {sorted(self.entries) or 'none'}")
        return entry

    def names_for(self, task: str) -> list[str]:
        return sorted(n for n, e in self.entries.items() if e.manifest is not None and e.manifest.task == task)

    async def stop(self) -> None:
        for entry in self.entries.values():
            if entry.engine is not None:
                await entry.engine.stop()

    def runtime(self, name: str | None, task: str) -> tuple[ModelEntry, ModelRuntime]:
        """The ready runtime serving `name` (default: the only/first model of `task`) or a 4xx/503."""
        if name is None:
            candidates = self.names_for(task)
            if not candidates:
                raise ModelNotFound(f"no {task} model in the repository; available models: {sorted(self.entries)}")
            name = candidates[0]
        entry = self.get(name)
        if entry.manifest is not None and entry.manifest.task != task:
            raise InvalidInput(
                f"model {name!r} is a {entry.manifest.task} model, not {task}; {task} models: {self.names_for(task)}"
            )
        if entry.status != Status.ready or entry.runtime is None:
            detail = f": {entry.reason}" if entry.reason else ""
            raise ModelNotReady(f"model {name!r} is {entry.status.value}{detail}")
        return entry, entry.runtime
