"""GET /healthz (the process is alive) and GET /readyz (the models are loaded, and no shutdown has begun)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.dependencies import DrainDep, RepositoryDep
from service.schemas.health import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(repository: RepositoryDep, drain: DrainDep) -> JSONResponse:
    body = Readiness(
        ready=repository.is_ready() and not drain.draining,
        draining=drain.draining,
        models={n: e.status.value for n, e in list(repository.entries.items())},
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)
