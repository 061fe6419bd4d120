"""What the HTTP middlewares do for a request, done for each gRPC call: a request id (the `x-request-id`
metadata when sane, else generated; sent back in the trailing metadata), the API key (metadata `authorization:
Bearer <key>` or `x-api-key`), the in-flight count the SIGTERM drain waits on, Prometheus counters and latency,
one access-log line, and every error as a gRPC status with the message (service/errors.py's statuses mapped
below). An unexpected error is logged with its traceback; the client gets INTERNAL naming the request id."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from core.errors import InputError
from service.auth import APIKeys
from service.errors import Overloaded, ServiceError, Unauthorized
from service.metrics import Metrics
from service.middleware import SANE
from service.settings import Settings
from service.shutdown import Drain

T = TypeVar("T")
SERVICE = "inference.GRPCInferenceService"
# The probes, like their REST paths: not counted in the drain nor the metrics, and open while keys are set
# when those paths are (DLSERVE_AUTH_OPEN_PATHS). Every other method needs a key, the repository's always.
PROBES = {"ServerLive": "/v2/health/live", "ServerReady": "/v2/health/ready"}
STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
# How close to its deadline a cancelled call counts as having run out of time (see ran_out).
DEADLINE_SLACK_S = 0.25
log = logging.getLogger("dlserve")
access = logging.getLogger("dlserve.access")


@dataclass
class CallInfo:
    """One call's bookkeeping; the handler names the model it serves."""

    method: str
    request_id: str
    model: str = "-"


Work = Callable[[CallInfo], Awaitable[T]]


class Refused(Exception):
    """A call answered with a status other than OK."""

    def __init__(self, code: grpc.StatusCode, message: str, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.metadata = code, message, metadata


def refusal(exc: Exception, request_id: str) -> Refused:
    if isinstance(exc, ServiceError):
        retry = (("retry-after", str(exc.retry_after)),) if isinstance(exc, Overloaded) else ()
        return Refused(STATUS.get(exc.status, grpc.StatusCode.INTERNAL), exc.message, retry)
    if isinstance(exc, InputError):  # the shared code's own 422
        return Refused(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
    log.error("unhandled error in gRPC call %s", request_id, exc_info=exc, extra={"request_id": request_id})
    return Refused(grpc.StatusCode.INTERNAL, f"internal server error (request {request_id})")


def ran_out(remaining: float | None) -> bool:
    """Whether a cancelled call ran out of time, from the seconds its deadline had left (None: no deadline).
    A client gives up at its own copy of the deadline, which passes before the server's by the time the call
    took to arrive, so its cancel can reach the handler with a little time still left."""
    return remaining is not None and remaining <= DEADLINE_SLACK_S


class Rpc:
    def __init__(self, settings: Settings, metrics: Metrics, drain: Drain) -> None:
        self.keys, self.metrics, self.drain = APIKeys(settings.api_keys), metrics, drain
        self.open_methods = {method for method, path in PROBES.items() if path in settings.auth_open_paths}

    def authorize(self, method: str, metadata: dict[str, str]) -> None:
        if not self.keys.enabled or method in self.open_methods:
            return
        message = self.keys.refusal(self.keys.presented(metadata.get("authorization"), metadata.get("x-api-key")))
        if message is not None:
            raise Unauthorized(message)

    async def serve(self, method: str, context: grpc.aio.ServicerContext, work: Work[T]) -> T:
        """`work(info)`'s response, or the call aborted with the status and message of what it raised."""
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        given = metadata.get("x-request-id", "")
        info = CallInfo(method, given if SANE.match(given.encode()) else uuid.uuid4().hex)
        probe, started, code = method in PROBES, time.perf_counter(), grpc.StatusCode.OK
        self.drain.in_flight += 0 if probe else 1
        refused: Refused | None = None
        try:
            self.authorize(method, metadata)
            response = await work(info)
        except asyncio.CancelledError:
            # grpc cancels the handler when the client cancels or the call's deadline passes.
            code = grpc.StatusCode.DEADLINE_EXCEEDED if ran_out(context.time_remaining()) else grpc.StatusCode.CANCELLED
            raise
        except Exception as exc:
            refused = refusal(exc, info.request_id)
            code = refused.code
        finally:
            self.drain.in_flight -= 0 if probe else 1
            self.record(info, code, time.perf_counter() - started, probe)
        ids = (("x-request-id", info.request_id),)
        if refused is not None:
            await context.abort(refused.code, refused.message, ids + refused.metadata)
        context.set_trailing_metadata(ids)
        return response

    def record(self, info: CallInfo, code: grpc.StatusCode, elapsed: float, probe: bool) -> None:
        path = f"/{SERVICE}/{info.method}"
        if not probe:
            self.metrics.request_done(info.model, path, code.name, elapsed)
        access.info(
            "GRPC %s %s",
            path,
            code.name,
            extra={"request_id": info.request_id, "method": "GRPC", "path": path, "status": code.name,
                   "model": info.model, "duration_ms": round(elapsed * 1000, 3)},
        )  # fmt: skip
