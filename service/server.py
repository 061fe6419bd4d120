"""Run the app under uvicorn with settings from the environment, overridden by command-line flags."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.grpc.server import with_grpc
from service.logs import configure
from service.runtimes.sessions import ProviderUnavailable, startup_provider
from service.settings import Settings
from service.shutdown import Drain

log = logging.getLogger("dlserve")


class DrainingServer(uvicorn.Server):
    """uvicorn, with a draining SIGTERM: readiness turns false at once and requests keep being served; once
    none is in flight (and at least `delay_s` has passed), or after `grace_s`, the server stops accepting
    connections, cuts what is left, runs the app's shutdown and exits 0. A second SIGTERM, or SIGINT, stops
    it the plain uvicorn way."""

    def __init__(self, config: uvicorn.Config, drain: Drain, grace_s: float, delay_s: float) -> None:
        super().__init__(config)
        self.drain, self.grace_s, self.delay_s = drain, grace_s, delay_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self.drain.draining:
            # Not recorded as uvicorn records signals: it would re-raise it on the way out, killing the
            # process with status 143 after a clean shutdown.
            self.drain.begin()
            log.info("SIGTERM: not ready any more; draining %d request(s) in flight", self.drain.in_flight)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain.draining and not self.should_exit:
            elapsed = self.drain.elapsed()
            idle = self.drain.in_flight == 0 and elapsed >= self.delay_s
            if idle or elapsed >= self.grace_s:
                if not idle:
                    log.warning("grace period of %gs over: cutting %d request(s)", self.grace_s, self.drain.in_flight)
                # What is left of the grace period bounds uvicorn's own wait for open connections.
                self.config.timeout_graceful_shutdown = max(self.grace_s - elapsed, 0.1)
                self.should_exit = True
        return await super().on_tick(counter)


def worker_app() -> FastAPI:
    """App factory for each uvicorn worker process: settings from the environment. Each worker serves gRPC
    too, on the port they share."""
    settings = Settings()
    configure(settings.log_level, settings.log_json)
    return with_grpc(create_app(settings), reuse_port=True)


def serve(host: str | None = None, port: int | None = None, model_dir: str | None = None) -> None:
    overrides = {"host": host, "port": port, "model_dir": model_dir and str(Path(model_dir).resolve())}
    for key, value in overrides.items():
        if value:  # workers read their settings from the environment, so flags go there too
            os.environ[f"DLSERVE_{key.upper()}"] = str(value)
    settings = Settings()
    configure(settings.log_level, settings.log_json)
    try:
        startup_provider(settings.providers)
    except ProviderUnavailable as e:
        log.error("not starting: %s", e)
        raise SystemExit(2) from None
    common = {"host": settings.host, "port": settings.port, "log_level": settings.log_level, "log_config": None,
              "access_log": False, "timeout_graceful_shutdown": settings.shutdown_grace_s}  # fmt: skip
    # (access_log off: our middleware writes the access log, as JSON, with request ids)
    if settings.workers > 1:
        # Each worker is a process with its own copy of the models and its own batchers and schedulers. On
        # SIGTERM uvicorn's supervisor stops every worker: each stops accepting connections at once and
        # finishes its requests in flight within the grace period.
        uvicorn.run("service.server:worker_app", factory=True, workers=settings.workers, **common)
        return
    app = with_grpc(create_app(settings))  # gRPC in the same process and event loop, for the app's lifetime
    server = DrainingServer(
        uvicorn.Config(app, **common), app.state.drain, settings.shutdown_grace_s, settings.shutdown_delay_s
    )
    server.run()
    if not server.started:
        raise SystemExit(3)  # as uvicorn.run does: the app or the socket failed at startup
