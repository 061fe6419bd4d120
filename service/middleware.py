"""Per-request bookkeeping: a request id (from X-Request-ID when sane, else generated, echoed back),
Prometheus counters and latency by model, endpoint and status, and one JSON access-log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import unexpected_error
from service.metrics import Metrics
from service.settings import PROBE_PATHS

HEADER = b"x-request-id"
SANE = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
access = logging.getLogger("dlserve.access")


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER, b"")
        rid = given.decode() if SANE.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        status, responded = 500, False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message.setdefault("headers", []).append((HEADER, rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if responded:  # a stream cut short: nothing left to answer, the server closes the connection
                raise
            # Answered here rather than by Starlette's outermost handler: the 500 carries X-Request-ID, the
            # traceback is logged once, and uvicorn keeps the connection (it closes it on an escaped exception,
            # which resets a keep-alive client's next request).
            await unexpected_error(Request(scope), exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            model = state.get("model", "-")
            if endpoint not in PROBE_PATHS:
                self.metrics.request_done(model, endpoint, status, elapsed)
            if access.isEnabledFor(logging.INFO):  # the line's fields cost more than the check
                access.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={"request_id": rid, "method": scope["method"], "path": scope["path"], "status": status,
                           "model": model, "duration_ms": round(elapsed * 1000, 3)},
                )  # fmt: skip
