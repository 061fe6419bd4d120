"""POST /v1/classify: images in (multipart or base64 JSON), top-k labels out, in request order."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Request

from service.dependencies import RepositoryDep, SettingsDep
from service.engine.engines import ClassifierEngine
from service.engine.lifecycle import deadline_seconds, guarded
from service.errors import InvalidInput
from service.preprocessing.images import decode_images
from service.runtimes.classifier import ClassifierRuntime
from service.schemas.classify import ClassifyResponse, ClassifyResult, Prediction
from service.schemas.common import ErrorResponse
from service.uploads import uploaded_images

router = APIRouter(prefix="/v1", tags=["classify"])

REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/ClassifyJSONRequest"}},
        },
    }
}
ERRORS = {code: {"model": ErrorResponse} for code in (404, 413, 415, 422, 429, 503, 504)}


@router.post("/classify", response_model=ClassifyResponse, responses=ERRORS, openapi_extra=REQUEST_BODY)
async def classify(
    request: Request,
    repository: RepositoryDep,
    settings: SettingsDep,
    model: Annotated[str | None, Query(description="model name; default: the first classify model")] = None,
    version: Annotated[int | None, Query(ge=1, description="the version to use; 404 unless it is served")] = None,
    top_k: Annotated[int, Query(ge=1, description="how many labels to return per image")] = 3,
) -> ClassifyResponse:
    entry, runtime = repository.runtime(model, "classify", version)
    assert isinstance(runtime, ClassifierRuntime) and isinstance(entry.engine, ClassifierEngine)
    request.state.model = entry.name
    if top_k > len(runtime.labels):
        raise InvalidInput(f"top_k is {top_k}; allowed: 1..{len(runtime.labels)} for model {entry.name!r}")
    timeout = deadline_seconds(request, settings.request_timeout_s)
    engine = entry.engine
    with engine.admission.slot():  # 429 here, before the body is read or decoded
        announce = engine.batcher.announce() if engine.batcher else contextlib.nullcontext()
        with announce:
            images = await uploaded_images(request, settings.max_upload_bytes, settings.max_images_per_request)
            rows = await decode_images(images, settings.max_image_pixels, runtime.preprocess)
        probs = await guarded(request, engine.predict(rows), timeout)
    return ClassifyResponse(
        model=entry.name,
        version=entry.version or 0,
        results=[
            ClassifyResult(name=name, predictions=[Prediction(**vars(p)) for p in preds])
            for (name, _), preds in zip(images, runtime.postprocess(probs, top_k), strict=True)
        ],
    )
