"""`create_app(settings)`: the FastAPI application; models load in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.errors import install_handlers
from service.middleware import RequestIdMiddleware
from service.repository import ModelRepository
from service.routers import classify, generate, health, models, translate
from service.settings import Settings

log = logging.getLogger("dlserve")


def create_app(settings: Settings | None = None, repository: ModelRepository | None = None) -> FastAPI:
    settings = settings or Settings()
    repository = repository or ModelRepository(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load in a worker thread so /healthz answers at once and /readyz says 503 until models are ready.
        loading = asyncio.create_task(asyncio.to_thread(repository.load_all))
        yield
        await asyncio.shield(loading)

    app = FastAPI(
        title="dlserve",
        version="0.1.0",
        description="Serves CNN and RNN models exported to ONNX: classification, generation, translation, captioning.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.repository = settings, repository
    app.add_middleware(RequestIdMiddleware)
    install_handlers(app)
    for router in (health.router, models.router, classify.router, generate.router, translate.router):
        app.include_router(router)
    return app
