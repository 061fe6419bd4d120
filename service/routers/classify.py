"""POST /v1/classify: images in (multipart or base64 JSON), top-k labels out, in request order."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from service.dependencies import RepositoryDep, SettingsDep
from service.errors import InvalidInput
from service.preprocessing.images import open_image
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
ERRORS = {code: {"model": ErrorResponse} for code in (404, 413, 415, 422, 503)}


def classify_images(runtime: ClassifierRuntime, images: list[tuple[str, bytes]], max_pixels: int, top_k: int):
    batch = np.stack([runtime.preprocess(open_image(data, name, max_pixels), name) for name, data in images])
    return runtime.postprocess(runtime.predict(batch), top_k)


@router.post("/classify", response_model=ClassifyResponse, responses=ERRORS, openapi_extra=REQUEST_BODY)
async def classify(
    request: Request,
    repository: RepositoryDep,
    settings: SettingsDep,
    model: Annotated[str | None, Query(description="model name; default: the first classify model")] = None,
    top_k: Annotated[int, Query(ge=1, description="how many labels to return per image")] = 3,
) -> ClassifyResponse:
    entry, runtime = repository.runtime(model, "classify")
    assert isinstance(runtime, ClassifierRuntime)
    if top_k > len(runtime.labels):
        raise InvalidInput(f"top_k is {top_k}; allowed: 1..{len(runtime.labels)} for model {entry.name!r}")
    images = await uploaded_images(request, settings.max_upload_bytes, settings.max_images_per_request)
    predictions = await run_in_threadpool(classify_images, runtime, images, settings.max_image_pixels, top_k)
    return ClassifyResponse(
        model=entry.name,
        version=entry.version or 0,
        results=[
            ClassifyResult(name=name, predictions=[Prediction(**vars(p)) for p in preds])
            for (name, _), preds in zip(images, predictions, strict=True)
        ],
    )
