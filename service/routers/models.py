"""GET /v1/models and GET /v1/models/{name}: the repository with status, provider and metrics."""

from __future__ import annotations

from fastapi import APIRouter

from service.dependencies import RepositoryDep
from service.errors import ServiceError
from service.repository import ModelEntry, ModelRepository
from service.schemas.common import ErrorResponse
from service.schemas.models import ModelInfo, ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


def model_info(entry: ModelEntry, default: bool = False) -> ModelInfo:
    m = entry.manifest
    return ModelInfo(
        name=entry.name,
        version=entry.version,
        task=m.task if m else None,
        status=entry.status.value,
        reason=entry.reason,
        provider=entry.runtime.provider if entry.runtime else None,
        description=m.description if m else None,
        metrics=m.metrics if m else {},
        quantization=m.quantization.get("method") if m and m.quantization else None,
        graphs=sorted(m.graphs) if m else [],
        default=default,
        engine=entry.engine.kind if entry.engine else None,
        activity=entry.runtime.activity() if entry.runtime else None,
    )


def is_default(repository: ModelRepository, entry: ModelEntry) -> bool:
    if entry.manifest is None:
        return False
    try:
        return repository.default_name(entry.manifest.task) == entry.name
    except ServiceError:  # no model, or several and none marked: no default to show
        return False


@router.get("", response_model=ModelList)
def list_models(repository: RepositoryDep) -> ModelList:
    return ModelList(models=[model_info(e, is_default(repository, e)) for e in list(repository.entries.values())])


@router.get("/{name}", response_model=ModelInfo, responses={404: {"model": ErrorResponse}})
def get_model(name: str, repository: RepositoryDep) -> ModelInfo:
    entry = repository.get(name)
    return model_info(entry, is_default(repository, entry))
