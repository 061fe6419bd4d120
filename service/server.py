"""Run the app under uvicorn with settings from the environment, overridden by command-line flags."""

from __future__ import annotations

import os
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.logs import configure
from service.settings import Settings


def worker_app() -> FastAPI:
    """App factory for each uvicorn worker process: settings from the environment."""
    settings = Settings()
    configure(settings.log_level, settings.log_json)
    return create_app(settings)


def serve(host: str | None = None, port: int | None = None, model_dir: str | None = None) -> None:
    overrides = {"host": host, "port": port, "model_dir": model_dir and str(Path(model_dir).resolve())}
    for key, value in overrides.items():
        if value:  # workers read their settings from the environment, so flags go there too
            os.environ[f"DLSERVE_{key.upper()}"] = str(value)
    settings = Settings()
    configure(settings.log_level, settings.log_json)
    common = {"host": settings.host, "port": settings.port, "log_level": settings.log_level, "log_config": None,
              "access_log": False}  # fmt: skip  # our middleware writes the access log, as JSON, with request ids
    if settings.workers > 1:
        # Each worker is a process with its own copy of the models and its own batchers and schedulers.
        uvicorn.run("service.server:worker_app", factory=True, workers=settings.workers, **common)
    else:
        uvicorn.run(create_app(settings), **common)
