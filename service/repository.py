"""The model repository: discovers `models/<name>/<version>/`, loads each model, tracks its status.

The newest version that loads serves; a version whose manifest says `opt_in` serves only when a load names it.
A model can be (re)loaded or unloaded while the server runs: the new version is built and checked beside the
serving one (manifest, sha256, reference pair, warm-up) and swapped in as one new entry, so a request that
already holds the old entry finishes on it; a failed load changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from core.manifest import Manifest
from core.model_folders import NAME_PATTERN, latest_version, read_manifest, reason_of, served_versions, version_folders
from service.engine.engines import Engine
from service.errors import BadRequest, InvalidInput, ModelNotFound, ModelNotReady
from service.metrics import Metrics
from service.runtimes.base import ModelRuntime, runtime_class
from service.settings import Settings

log = logging.getLogger("dlserve")


class Status(StrEnum):
    loading = "loading"
    ready = "ready"
    failed = "failed"
    unloaded = "unloaded"


class LoadFailed(BadRequest):
    """A requested load did not pass its checks; the version being served, if any, still serves."""


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


@dataclass(frozen=True)
class Loaded:
    """What one successful load produced, before it is published in an entry."""

    version: int
    manifest: Manifest
    runtime: ModelRuntime
    engine: Engine
    seconds: float


class ModelRepository:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.entries: dict[str, ModelEntry] = {}
        self.loaded = threading.Event()
        self._load_lock = threading.Lock()  # one load at a time: startup and requested loads never overlap
        self._retiring: set[asyncio.Task] = set()

    @property
    def root(self) -> Path:
        return Path(self.settings.model_dir)

    def discover(self) -> None:
        root = self.root
        if not root.is_dir():
            log.error("model directory %s does not exist", root)
            return
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name)):
            if folder.resolve().parent != root.resolve():
                log.error("model folder %s links outside the model directory: not served", folder)
                continue
            self.entries[folder.name] = ModelEntry(name=folder.name, folder=folder)

    def model_folder(self, name: str) -> Path:
        """`<model_dir>/<name>` for a valid name; never a path outside the model directory."""
        if not NAME_PATTERN.match(name):
            raise BadRequest(f"model name {name!r} is invalid; names match {NAME_PATTERN.pattern}")
        root = self.root.resolve()
        folder = (root / name).resolve()
        if folder.parent != root:  # a symlink pointing elsewhere
            raise BadRequest(f"model {name!r} resolves outside the model directory")
        if not folder.is_dir():
            raise ModelNotFound(f"model {name!r} not found in the model directory; models: {self.folder_names()}")
        return folder

    def folder_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name))

    def build(self, name: str, version_dir: Path) -> Loaded:
        """Load one version and check it: manifest, graphs (sha256), reference pair, warm-up. Raises on failure."""
        started = time.perf_counter()
        manifest = read_manifest(version_dir)
        if manifest.name != name:
            raise ValueError(f"manifest names model {manifest.name!r} but its folder is {name!r}")
        runtime_cls = runtime_class(manifest)
        runtime = runtime_cls(manifest, version_dir, self.settings.providers, self.settings.intra_op_threads)
        runtime.warm_up()  # representative shapes, before the model counts as ready
        engine = Engine(name, runtime, self.settings, self.metrics)
        return Loaded(int(version_dir.name), manifest, runtime, engine, time.perf_counter() - started)

    def load(self, entry: ModelEntry) -> None:
        """Startup: serve the newest version that passes its checks; the model fails when none does."""
        with self._load_lock:
            versions = served_versions(entry.folder) if entry.folder.is_dir() else []
            skipped: list[tuple[Path, str]] = []
            for version_dir in versions:
                try:
                    loaded = self.build(entry.name, version_dir)
                except Exception as e:  # this version is broken: fall back to the one before it
                    log.error("model %s v%s failed to load: %s", entry.name, version_dir.name, reason_of(e))
                    skipped.append((version_dir, reason_of(e)))
                    continue
                self._publish(entry, loaded)
                if skipped:
                    failures = "; ".join(f"version {d.name} failed: {r}" for d, r in skipped)
                    entry.reason = f"{failures}; serving version {loaded.version}"
                return
            entry.status = Status.failed
            if skipped:
                newest, entry.reason = skipped[0]
                entry.version = int(newest.name)
                with contextlib.suppress(Exception):
                    entry.manifest = read_manifest(newest)
            else:
                entry.reason = f"ValueError: no numbered version folder in {entry.folder}"
                log.error("model %s failed to load: %s", entry.name, entry.reason)
            self.metrics.model_status.labels(entry.name, str(entry.version), "none", entry.status.value).set(1)

    def _publish(self, entry: ModelEntry, loaded: Loaded) -> None:
        entry.version, entry.manifest = loaded.version, loaded.manifest
        entry.runtime, entry.engine, entry.load_seconds = loaded.runtime, loaded.engine, loaded.seconds
        entry.status, entry.reason = Status.ready, None
        provider = loaded.runtime.provider
        self.metrics.load_seconds.labels(entry.name, str(entry.version), provider).set(loaded.seconds)
        self.metrics.model_status.labels(entry.name, str(entry.version), provider, entry.status.value).set(1)
        log.info("model %s v%s ready on %s in %.2fs", entry.name, entry.version, provider, loaded.seconds)

    def load_all(self) -> None:
        self.discover()
        for entry in list(self.entries.values()):
            self.load(entry)
        self.loaded.set()

    def _require_loaded(self) -> None:
        if not self.loaded.is_set():
            raise ModelNotReady("the repository is still loading its models at startup; retry once it is ready")

    def _build_requested(self, name: str, folder: Path, version: int | None) -> Loaded:
        with self._load_lock:
            if version is None:
                version_dir = latest_version(folder)
                if version_dir is None:
                    raise LoadFailed(f"model {name!r} has no numbered version folder")
            else:
                version_dir = folder / str(version)
                if not version_dir.is_dir():
                    found = [int(p.name) for p in version_folders(folder)]
                    raise ModelNotFound(f"model {name!r} has no version {version}; versions: {sorted(found)}")
            try:
                return self.build(name, version_dir)
            except Exception as e:
                raise LoadFailed(f"loading {name!r} version {version_dir.name} failed: {reason_of(e)}") from None

    async def reload(self, name: str, version: int | None = None) -> ModelEntry:
        """Load `name` (its newest version, or `version`), check it, then swap it in; the old one drains."""
        self._require_loaded()
        folder = self.model_folder(name)
        try:
            loaded = await asyncio.to_thread(self._build_requested, name, folder, version)
        except LoadFailed as e:
            log.error("%s; model %s keeps its current state", e.message, name)
            raise
        entry = ModelEntry(name=name, folder=folder)
        self._publish(entry, loaded)
        old = self.entries.get(name)
        self.entries[name] = entry  # the swap: requests from now on get the new entry
        self._retire(old)
        return entry

    async def unload(self, name: str) -> ModelEntry:
        """Stop serving `name`; requests in flight finish on it."""
        self._require_loaded()
        self.model_folder(name)
        old = self.get(name)
        entry = replace(old, status=Status.unloaded, reason="unloaded on request", runtime=None, engine=None)
        self.entries[name] = entry
        self._retire(old)
        log.info("model %s unloaded", name)
        return entry

    def _retire(self, old: ModelEntry | None) -> None:
        if old is None:
            return
        provider = old.runtime.provider if old.runtime else "none"
        self.metrics.model_status.labels(old.name, str(old.version), provider, old.status.value).set(0)
        if old.engine is not None:
            task = asyncio.get_running_loop().create_task(self._drain_and_stop(old.engine))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _drain_and_stop(self, engine: Engine) -> None:
        # Requests admitted on the old engine finish there; their deadlines bound how long that can take.
        deadline = time.monotonic() + self.settings.request_timeout_s + 5
        while engine.admission.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await engine.stop()

    def is_ready(self) -> bool:
        if not self.loaded.is_set():
            return False
        # list(): a copy taken at once, as a load may add an entry meanwhile (this runs in a worker thread)
        entries = list(self.entries.values())
        considered = [e.status == Status.ready for e in entries if e.status != Status.unloaded]
        if not considered:
            return False
        return all(considered) if self.settings.readiness == "all" else any(considered)

    def get(self, name: str) -> ModelEntry:
        entry = self.entries.get(name)
        if entry is None:
            raise ModelNotFound(f"model {name!r} not found; available models: {sorted(self.entries) or 'none'}")
        return entry

    def names_for(self, task: str) -> list[str]:
        entries = list(self.entries.items())
        return sorted(n for n, e in entries if e.manifest is not None and e.manifest.task == task)

    async def stop(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        for entry in self.entries.values():
            if entry.engine is not None:
                await entry.engine.stop()

    def default_name(self, task: str) -> str:
        """The model a request for `task` gets when it names none: DLSERVE_DEFAULT_MODELS, else the one whose
        manifest says `"default": true`, else the only model of that task."""
        if task in self.settings.default_models:
            return self.settings.default_models[task]
        names = self.names_for(task)
        if not names:
            raise ModelNotFound(f"no {task} model in the repository; available models: {sorted(self.entries)}")
        flagged = [n for n in names if (m := self.entries[n].manifest) is not None and m.default]
        if len(flagged) == 1:
            return flagged[0]
        # A model still loading may be this task's default, or another of its models: until its manifest is
        # read, "the only model" or "none is marked" would be answers that change a moment later.
        pending = sorted(n for n, e in list(self.entries.items()) if e.manifest is None and e.status == Status.loading)
        if pending:
            raise ModelNotReady(
                f"models {pending} are still loading; the default {task} model is known once they are "
                f"(or name one with `model`: {names})"
            )
        if len(names) == 1:
            return names[0]
        raise InvalidInput(
            f"{len(names)} {task} models are served and {len(flagged) or 'none'} of them "
            f"{'are' if len(flagged) > 1 else 'is'} marked default: "
            f"name one with `model` ({names}), or set DLSERVE_DEFAULT_MODELS={task}=<name>"
        )

    def serving(self, task: str, name: str | None, version: int | None = None) -> ModelEntry:
        """The ready entry serving `name` (default: `default_name(task)`) or a 4xx/503 saying why not.

        `version`, when given, must be the version being served (404 otherwise)."""
        name = name or self.default_name(task)
        entry = self.get(name)
        if entry.manifest is not None and entry.manifest.task != task:
            raise InvalidInput(
                f"model {name!r} is a {entry.manifest.task} model, not {task}; {task} models: {self.names_for(task)}"
            )
        if entry.status != Status.ready or entry.runtime is None or entry.engine is None:
            detail = f": {entry.reason}" if entry.reason else ""
            raise ModelNotReady(f"model {name!r} is {entry.status.value}{detail}")
        if version is not None and version != entry.version:
            raise ModelNotFound(f"model {name!r} version {version} is not served; it serves version {entry.version}")
        return entry
