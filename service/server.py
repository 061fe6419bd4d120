"""Run the app under uvicorn with settings from the environment, overridden by command-line flags."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from service.app import create_app
from service.logs import configure
from service.settings import Settings


def serve(host: str | None = None, port: int | None = None, model_dir: str | None = None) -> None:
    overrides = {k: v for k, v in {"host": host, "port": port, "model_dir": model_dir and Path(model_dir)}.items() if v}
    settings = Settings(**overrides)
    configure(settings.log_level, settings.log_json)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level,
        log_config=None, access_log=False,  # our middleware writes the access log, as JSON, with request ids
    )  # fmt: skip
