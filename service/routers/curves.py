"""GET /v1/models/{name}/curves and /curves.png: the learning curves written at export next to the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from service.dependencies import RepositoryDep
from service.errors import ModelNotFound
from service.repository import ModelEntry
from service.schemas.common import ErrorResponse

router = APIRouter(prefix="/v1/models", tags=["models"])
ERRORS = {404: {"model": ErrorResponse}}


def curves_file(entry: ModelEntry, file_name: str) -> Path:
    path = entry.folder / str(entry.version) / file_name if entry.version else None
    if path is None or not path.is_file():
        raise ModelNotFound(f"model {entry.name!r} has no {file_name} (its export wrote no learning curves)")
    return path


@router.get("/{name}/curves", responses=ERRORS)
def curves(name: str, repository: RepositoryDep) -> dict[str, Any]:
    """Per-epoch losses and metrics of each training stage: {model, stages: {stage: {epoch, losses, metrics}}}."""
    return json.loads(curves_file(repository.get(name), "curves.json").read_text())


@router.get(
    "/{name}/curves.png",
    response_class=FileResponse,
    responses={200: {"description": "the learning-curve chart", "content": {"image/png": {}}}, **ERRORS},
)
def curves_png(name: str, repository: RepositoryDep) -> FileResponse:
    return FileResponse(curves_file(repository.get(name), "curves.png"), media_type="image/png")
