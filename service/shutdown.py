"""Graceful shutdown: on SIGTERM readiness turns false at once while requests keep being served; the server
exits once none is in flight (or the grace period is over). `Drain` is the state, shared by the server
(service/server.py), the readiness routes and the middleware that counts requests in flight."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from service.settings import PROBE_PATHS


class Drain:
    def __init__(self) -> None:
        self.in_flight = 0  # requests being served, probes and metrics scrapes left out
        self.began_at: float | None = None

    @property
    def draining(self) -> bool:
        return self.began_at is not None

    def begin(self) -> None:
        if self.began_at is None:
            self.began_at = time.monotonic()

    def elapsed(self) -> float:
        return 0.0 if self.began_at is None else time.monotonic() - self.began_at


class DrainMiddleware:
    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app, self.drain = app, drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        self.drain.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.in_flight -= 1
