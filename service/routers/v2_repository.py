"""Model repository management (the v2 protocol's repository extension): index, load, unload.

A load builds and checks the new version beside the serving one and swaps it in; a failed load changes
nothing. When API keys are set these routes always need one (service/auth.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from core.errors import first_problem
from service.dependencies import RepositoryDep
from service.errors import BadRequest
from service.schemas.v2 import RepositoryModel, RepositoryRequest, V2Error
from service.v2.repository import index_row, requested_version

router = APIRouter(prefix="/v2/repository", tags=["repository"])
ERRORS = {code: {"model": V2Error} for code in (400, 401, 404, 503)}
# The handlers read the optional body themselves: Triton's client sends `{}` with no Content-Type, which FastAPI
# would refuse to parse as JSON.
BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RepositoryRequest"}}},
    }
}


async def repository_request(request: Request) -> RepositoryRequest:
    """The body, JSON whatever its Content-Type; none at all is an empty request."""
    raw = await request.body()
    if not raw.strip():
        return RepositoryRequest()
    try:
        return RepositoryRequest.model_validate_json(raw)
    except ValidationError as e:
        raise BadRequest(f"invalid repository request: {first_problem(e, 'body')}") from None


RequestDep = Annotated[RepositoryRequest, Depends(repository_request)]


def _version(body: RepositoryRequest) -> int | None:
    return requested_version(body.parameters)


# Triton's client asks for the index with POST; GET is the plain way to read it.
@router.get("/index", response_model=list[RepositoryModel], responses=ERRORS)
@router.post("/index", response_model=list[RepositoryModel], responses=ERRORS)
def repository_index(repository: RepositoryDep) -> list[RepositoryModel]:
    return [index_row(e) for _, e in sorted(repository.entries.items())]


@router.post("/models/{name}/load", response_model=RepositoryModel, responses=ERRORS, openapi_extra=BODY)
async def load_model(name: str, request: Request, repository: RepositoryDep, body: RequestDep) -> RepositoryModel:
    """Load the newest version that is not opt-in (or `parameters.version`); 400 with the reason when it fails."""
    request.state.model = name
    return index_row(await repository.reload(name, _version(body)))


@router.post("/models/{name}/unload", response_model=RepositoryModel, responses=ERRORS, openapi_extra=BODY)
async def unload_model(name: str, request: Request, repository: RepositoryDep, body: RequestDep) -> RepositoryModel:
    request.state.model = name
    return index_row(await repository.unload(name))
