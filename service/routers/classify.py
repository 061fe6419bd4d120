"""POST /v1/classify: images in (multipart or base64 JSON), top-k labels out, in request order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.dependencies import CallsDep
from service.errors import InvalidInput
from service.runtimes.classifier import ClassifierRuntime
from service.schemas.classify import ClassifyParams, ClassifyResponse, ClassifyResult, Prediction
from service.schemas.common import ErrorResponse

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
async def classify(calls: CallsDep, params: Annotated[ClassifyParams, Query()]) -> ClassifyResponse:
    top_k = params.top_k
    async with calls.admit(ClassifierRuntime, params.model, params.version) as call:  # 429 before the body
        labels = call.runtime.labels
        if top_k > len(labels):
            raise InvalidInput(f"top_k is {top_k}; allowed: 1..{len(labels)} for model {call.entry.name!r}")
        names, rows = await call.images()
        outputs = await call.run(call.engine.batch(call.runtime.feeds(rows)))
    results = call.runtime.postprocess(outputs, top_k)
    return ClassifyResponse(
        model=call.entry.name,
        version=call.version,
        results=[
            ClassifyResult(name=name, predictions=[Prediction(**vars(p)) for p in preds])
            for name, preds in zip(names, results, strict=True)
        ],
    )
