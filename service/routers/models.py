"""GET /v1/models and GET /v1/models/{name}: the repository with status, provider and metrics."""

from __future__ import annotations

from fastapi import APIRouter

from service.dependencies import RepositoryDep
from service.repository import ModelEntry
from service.runtimes.generator import GeneratorRuntime
from service.schemas.common import ErrorResponse
from service.schemas.models import ModelInfo, ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


def model_info(entry: ModelEntry) -> ModelInfo:
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
        graphs=sorted(m.graphs) if m else [],
        activity=activity(entry),
    )


def activity(entry: ModelEntry) -> dict[str, int] | None:
    rt = entry.runtime
    if isinstance(rt, GeneratorRuntime):
        return {"active_generations": rt.stats.active, "generated_tokens": rt.stats.steps}
    return None


@router.get("", response_model=ModelList)
def list_models(repository: RepositoryDep) -> ModelList:
    return ModelList(models=[model_info(e) for e in list(repository.entries.values())])


@router.get("/{name}", response_model=ModelInfo, responses={404: {"model": ErrorResponse}})
def get_model(name: str, repository: RepositoryDep) -> ModelInfo:
    return model_info(repository.get(name))
