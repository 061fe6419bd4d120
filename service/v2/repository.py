"""The repository extension's shared pieces: a model's index row, and the version a load asks for. Used by the
REST routes (service/routers/v2_repository.py) and the gRPC servicer alike."""

from __future__ import annotations

from collections.abc import Mapping

from service.errors import BadRequest
from service.repository import ModelEntry, Status
from service.schemas.v2 import RepositoryModel

STATES = {
    Status.ready: "READY",
    Status.loading: "LOADING",
    Status.failed: "UNAVAILABLE",
    Status.unloaded: "UNAVAILABLE",
}


def index_row(entry: ModelEntry) -> RepositoryModel:
    version = "" if entry.version is None else str(entry.version)
    return RepositoryModel(name=entry.name, version=version, state=STATES[entry.status], reason=entry.reason or "")


def requested_version(parameters: Mapping[str, object]) -> int | None:
    """`parameters.version` as a version number (None: the newest); 400 for anything else."""
    raw = parameters.get("version")
    if raw is None:
        return None
    if isinstance(raw, bool) or not str(raw).isdigit() or int(str(raw)) < 1:
        raise BadRequest(f'parameters.version is {raw!r}; send a version number such as "2"')
    return int(str(raw))
