"""`create_app(settings)`: the FastAPI application; models load in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.auth import APIKeyMiddleware
from service.direct import DirectRoutes
from service.engine.lifecycle import ClientGone
from service.errors import install_handlers
from service.limits import BodyLimitMiddleware
from service.metrics import Metrics
from service.middleware import RequestMiddleware
from service.openapi import service_openapi
from service.repository import ModelRepository
from service.routers import (
    caption,
    classify,
    curves,
    generate,
    health,
    models,
    playground,
    translate,
    v2,
    v2_repository,
)
from service.settings import Settings
from service.shutdown import Drain, DrainMiddleware

log = logging.getLogger("dlserve")


def create_app(settings: Settings | None = None, repository: ModelRepository | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = (repository := repository or ModelRepository(settings, metrics=Metrics())).metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load in a worker thread so /healthz answers at once and /readyz says 503 until models are ready.
        loading = asyncio.create_task(asyncio.to_thread(repository.load_all))
        yield
        await asyncio.shield(loading)
        await repository.stop()

    app = FastAPI(
        title="dlserve",
        version="0.1.0",
        description="Serves CNN and RNN models exported to ONNX: classification, generation, translation, captioning.",
        lifespan=lifespan,
        # Off by default: FastAPI would otherwise ask OpenTelemetry for its providers on every request.
        telemetry=None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings, app.state.repository, app.state.metrics = settings, repository, metrics
    app.state.drain = drain = Drain()
    # Added innermost first. Outermost: request ids, logs and metrics (so 401s and 413s are logged too), the
    # in-flight count for shutdown, CORS (preflights carry no key), keys, the body limit, the direct routes.
    app.add_middleware(DirectRoutes, api=app)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(APIKeyMiddleware, keys=settings.api_keys, open_paths=settings.auth_open_paths)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After", "Inference-Header-Content-Length"],
        )
    app.add_middleware(DrainMiddleware, drain=drain)
    app.add_middleware(RequestMiddleware, metrics=metrics)
    install_handlers(app)

    @app.exception_handler(ClientGone)
    async def _client_gone(request: Request, exc: ClientGone) -> Response:
        log.info("client went away; its work was cancelled (request %s)", request.state.request_id)
        return Response(status_code=499)

    prometheus_text = {200: {"description": "Prometheus text format", "content": {"text/plain": {}}}}

    @app.get("/metrics", tags=["health"], response_class=Response, responses=prometheus_text)
    def prometheus_metrics() -> Response:
        for name, engine in ((n, e.engine) for n, e in list(repository.entries.items()) if e.engine):
            metrics.queue_depth.labels(name).set(engine.admission.in_flight)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # v2 and v2_repository: the Open Inference Protocol and its repository extension
    routers = (health, models, curves, classify, generate, translate, caption, playground, v2, v2_repository)
    for module in routers:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=playground.STATIC_DIR), name="static")
    app.openapi = lambda: service_openapi(app)  # type: ignore[method-assign]
    return app
