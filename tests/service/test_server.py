"""The draining SIGTERM of DrainingServer, tick by tick, and the in-flight count it waits on."""

from __future__ import annotations

import asyncio
import signal

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.server import DrainingServer
from service.shutdown import Drain, DrainMiddleware


def server(grace_s: float = 30, delay_s: float = 0) -> DrainingServer:
    return DrainingServer(uvicorn.Config(FastAPI()), Drain(), grace_s, delay_s)


def tick(s: DrainingServer) -> bool:
    return asyncio.run(s.on_tick(1))


def test_sigterm_drains_then_exits_without_re_raising_the_signal():
    s = server()
    s.drain.in_flight = 2
    s.handle_exit(signal.SIGTERM, None)
    assert s.drain.draining and not s.should_exit and s._captured_signals == []
    assert tick(s) is False  # requests in flight: keep serving
    s.drain.in_flight = 0
    assert tick(s) is True and s.should_exit
    assert 29 < s.config.timeout_graceful_shutdown <= 30  # what is left of the grace period


def test_grace_period_bounds_the_drain():
    s = server(grace_s=0)
    s.drain.in_flight = 1
    s.handle_exit(signal.SIGTERM, None)
    assert tick(s) is True and s.config.timeout_graceful_shutdown == 0.1


def test_delay_keeps_serving_while_not_ready():
    s = server(delay_s=60)
    s.handle_exit(signal.SIGTERM, None)
    assert tick(s) is False  # nothing in flight, but load balancers get `delay_s` to notice


def test_second_sigterm_and_sigint_stop_at_once():
    s = server()
    s.handle_exit(signal.SIGTERM, None)
    s.handle_exit(signal.SIGTERM, None)
    assert s.should_exit
    t = server()
    t.handle_exit(signal.SIGINT, None)
    assert t.should_exit and not t.drain.draining


def test_middleware_counts_requests_but_not_probes():
    drain = Drain()
    app = FastAPI()
    seen = []

    @app.get("/work")
    def work() -> dict:
        seen.append(drain.in_flight)
        return {}

    @app.get("/readyz")
    def readyz() -> dict:
        seen.append(drain.in_flight)
        return {}

    app.add_middleware(DrainMiddleware, drain=drain)
    with TestClient(app) as c:
        c.get("/work")
        c.get("/readyz")
    assert seen == [1, 0] and drain.in_flight == 0
