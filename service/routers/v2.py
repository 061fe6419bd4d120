"""Open Inference Protocol (KServe v2) REST: server and model health and metadata, and tensor inference.

Standard clients (tritonclient, KServe's) work unchanged; errors are `{"error": "..."}` (service/errors.py).
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from service.dependencies import CallsDep, DrainDep, RepositoryDep
from service.errors import BadRequest, ModelNotReady
from service.schemas.v2 import Live, ModelMetadata, ModelReady, Ready, ServerMetadata, V2Error
from service.uploads import read_body
from service.v2 import codec
from service.v2.infer import run_inference
from service.v2.targets import metadata, resolve

router = APIRouter(prefix="/v2", tags=["v2"])
ERRORS = {code: {"model": V2Error} for code in (400, 404, 413, 429, 503, 504)}
EXTENSIONS = ["binary_tensor_data", "model_repository"]
V2Name = Annotated[str, Path(description="a v2 model: <model>, or <model>.<graph>", examples=["lenet5-mnist"])]
NOT_READY = 400  # the protocol: 200 for ready, a 4xx for not ready
# The handler reads the body itself (JSON, or JSON then raw tensor bytes with the binary extension); the
# binary form's layout (Inference-Header-Content-Length, binary_data_size) is beyond what OpenAPI describes.
BINARY = {"schema": {"type": "string", "format": "binary"}}
INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}},
            "application/octet-stream": BINARY,
        },
    }
}
INFER_RESPONSES = {
    200: {
        "description": "output tensors: JSON, or JSON then raw bytes when outputs were asked for as binary data",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferResponse"}},
            "application/octet-stream": BINARY,
        },
    },
    **ERRORS,
}


def _ready_response(body: Ready | ModelReady) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else NOT_READY)


@router.get("", response_model=ServerMetadata)
def server_metadata(request: Request) -> ServerMetadata:
    return ServerMetadata(name="dlserve", version=request.app.version, extensions=EXTENSIONS)


@router.get("/health/live", response_model=Live)
def live() -> Live:
    return Live(live=True)


@router.get("/health/ready", response_model=Ready, responses={NOT_READY: {"model": Ready}})
def ready(repository: RepositoryDep, drain: DrainDep) -> JSONResponse:
    return _ready_response(Ready(ready=repository.is_ready() and not drain.draining))


@router.get("/models/{name}/ready", response_model=ModelReady, responses={NOT_READY: {"model": ModelReady}, **ERRORS})
@router.get(
    "/models/{name}/versions/{version}/ready",
    response_model=ModelReady,
    responses={NOT_READY: {"model": ModelReady}, **ERRORS},
)
def model_ready(name: V2Name, repository: RepositoryDep, version: str | None = None) -> JSONResponse:
    try:
        resolve(repository, name, version)  # 404 for a model, graph or version that is not there
    except ModelNotReady:
        return _ready_response(ModelReady(name=name, ready=False))
    return _ready_response(ModelReady(name=name, ready=True))


@router.get("/models/{name}", response_model=ModelMetadata, responses=ERRORS, response_model_exclude_none=True)
@router.get(
    "/models/{name}/versions/{version}",
    response_model=ModelMetadata,
    responses=ERRORS,
    response_model_exclude_none=True,
)
def model_metadata(name: V2Name, repository: RepositoryDep, version: str | None = None) -> ModelMetadata:
    return metadata(resolve(repository, name, version))


@router.post("/models/{name}/infer", responses=INFER_RESPONSES, response_class=Response, openapi_extra=INFER_BODY)
@router.post(
    "/models/{name}/versions/{version}/infer", responses=INFER_RESPONSES, response_class=Response,
    openapi_extra=INFER_BODY,
)  # fmt: skip
async def infer(name: V2Name, request: Request, calls: CallsDep, version: str | None = None) -> Response:
    target = resolve(calls.repository, name, version)
    batched = target.runtime.v2_batches(target.graph)
    async with calls.call(target.entry, target.runtime) as call:  # 429 before the body
        if request.headers.get("content-encoding", "identity") != "identity":
            raise BadRequest("compressed request bodies are not supported; send the body without Content-Encoding")
        with call.engine.announce() if batched else contextlib.nullcontext():  # a forming batch waits for it
            body = await read_body(request, call.settings.max_upload_bytes)
            infer_request, tensors = codec.parse_request(body, request.headers.get(codec.HEADER_LENGTH))
        wanted, outputs = await run_inference(call, target, infer_request, tensors)  # checks, then runs
    encoded = codec.encode_response(target.name, call.version, infer_request.id, wanted, outputs)
    if encoded.header_length is None:
        return Response(encoded.body, media_type="application/json")
    headers = {"Inference-Header-Content-Length": str(encoded.header_length)}
    return Response(encoded.body, media_type="application/octet-stream", headers=headers)
