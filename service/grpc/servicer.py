"""The methods of `inference.GRPCInferenceService` that dlserve serves: health, metadata, inference and the
repository extension. Each answers what its REST route (service/routers/v2.py, v2_repository.py) answers, from
the same code: v2 names and targets, metadata, the codec's checks, `run_inference` within a `ModelCall` (the
model's admission slot and the call's deadline). The others (streaming, model config and statistics, shared
memory, trace and log settings) are left to the generated base class, which answers UNIMPLEMENTED.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from service.dependencies import ModelCall
from service.engine.lifecycle import MAX_TIMEOUT_S
from service.errors import BadRequest, DeadlineExceeded, ModelNotFound, ModelNotReady
from service.grpc import codec
from service.grpc.rpc import CallInfo, Rpc
from service.repository import ModelRepository, Status
from service.routers.v2 import EXTENSIONS
from service.settings import Settings
from service.shutdown import Drain
from service.v2.infer import run_inference
from service.v2.repository import index_row, requested_version
from service.v2.targets import metadata, resolve

Handler = Callable[[Any, Any, grpc.aio.ServicerContext, CallInfo], Awaitable[Any]]


def rpc(method: Handler) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    """A method served through `Rpc.serve`: key, request id, drain count, metrics, log, errors as statuses."""

    @functools.wraps(method)
    async def handler(self: Servicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self.rpc.serve(method.__name__, context, lambda info: method(self, request, context, info))

    return handler


def deadline(context: grpc.aio.ServicerContext, default: float) -> float:
    """The call's gRPC deadline in seconds (at most MAX_TIMEOUT_S), or the server's default without one."""
    remaining = context.time_remaining()
    if remaining is None or remaining > MAX_TIMEOUT_S:
        return default if remaining is None else MAX_TIMEOUT_S
    if remaining <= 0:
        raise DeadlineExceeded("the call's deadline had passed before it was served")
    return remaining


def _version(raw: str) -> str | None:
    return raw or None  # the protocol's empty version: the one served


def _check_repository(name: str) -> None:
    if name:
        raise ModelNotFound(f"repository {name!r} not found; this server has one: leave repository_name empty")


def _only(params: dict[str, Any], allowed: set[str], call: str) -> None:
    for key in params:
        if key == "config" or key.startswith("file:"):
            raise BadRequest(f"{call}: parameters.{key}: configuration overrides are not supported; a load reads "
                             "the model's folder (manifest.json)")  # fmt: skip
        if key not in allowed:
            raise BadRequest(f"{call}: parameters.{key} is not supported; allowed: {sorted(allowed) or 'none'}")


class Servicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, repository: ModelRepository, settings: Settings, drain: Drain, rpc: Rpc, version: str) -> None:
        self.repository, self.settings, self.drain, self.rpc, self.version = repository, settings, drain, rpc, version

    @rpc
    async def ServerLive(self, request: pb.ServerLiveRequest, context, info: CallInfo) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @rpc
    async def ServerReady(self, request: pb.ServerReadyRequest, context, info: CallInfo) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.repository.is_ready() and not self.drain.draining)

    @rpc
    async def ModelReady(self, request: pb.ModelReadyRequest, context, info: CallInfo) -> pb.ModelReadyResponse:
        # As Triton answers: a model that is not there is not ready (REST says so with a 404).
        try:
            target = resolve(self.repository, request.name, _version(request.version))
        except (ModelNotFound, ModelNotReady):
            return pb.ModelReadyResponse(ready=False)
        info.model = target.entry.name  # only names that exist become metric labels
        return pb.ModelReadyResponse(ready=True)

    @rpc
    async def ServerMetadata(self, request, context, info: CallInfo) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="dlserve", version=self.version, extensions=EXTENSIONS)

    @rpc
    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context, info) -> pb.ModelMetadataResponse:
        target = resolve(self.repository, request.name, _version(request.version))
        info.model = target.entry.name
        return codec.metadata_response(metadata(target))

    @rpc
    async def ModelInfer(self, request: pb.ModelInferRequest, context, info: CallInfo) -> pb.ModelInferResponse:
        target = resolve(self.repository, request.model_name, _version(request.model_version))
        info.model = target.entry.name
        timeout = deadline(context, self.settings.request_timeout_s)
        # No HTTP request to watch: grpc cancels this handler when the client goes away.
        async with ModelCall(None, target.entry, target.runtime, self.settings, timeout) as call:  # 429 first
            infer_request, tensors = codec.parse_request(request)
            wanted, outputs = await run_inference(call, target, infer_request, tensors)
        return codec.encode_response(target.name, call.version, infer_request.id, wanted, outputs)

    @rpc
    async def RepositoryIndex(self, request: pb.RepositoryIndexRequest, context, info) -> pb.RepositoryIndexResponse:
        _check_repository(request.repository_name)
        entries = [e for _, e in sorted(self.repository.entries.items())]
        rows = [index_row(e) for e in entries if not request.ready or e.status == Status.ready]
        return pb.RepositoryIndexResponse(
            models=[pb.RepositoryIndexResponse.ModelIndex(**row.model_dump()) for row in rows]
        )

    @rpc
    async def RepositoryModelLoad(self, request: pb.RepositoryModelLoadRequest, context, info):
        """The newest version (or parameters.version, a string or an int64); INVALID_ARGUMENT when it fails."""
        _check_repository(request.repository_name)
        params = codec.parameters(request.parameters)
        _only(params, {"version"}, "load")
        info.model = (await self.repository.reload(request.model_name, requested_version(params))).name
        return pb.RepositoryModelLoadResponse()

    @rpc
    async def RepositoryModelUnload(self, request: pb.RepositoryModelUnloadRequest, context, info):
        _check_repository(request.repository_name)
        # tritonclient always sends unload_dependents; no dlserve model depends on another.
        _only(codec.parameters(request.parameters), {"unload_dependents"}, "unload")
        info.model = (await self.repository.unload(request.model_name)).name
        return pb.RepositoryModelUnloadResponse()
