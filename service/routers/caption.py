"""POST /v1/caption: photos in (multipart or base64 JSON), captions out by beam search, in request order."""

from __future__ import annotations

import contextlib
import math
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from service.dependencies import RepositoryDep, SettingsDep
from service.engine.engines import CaptionerEngine
from service.engine.lifecycle import deadline_seconds, guarded
from service.errors import InvalidInput
from service.preprocessing.images import decode_images
from service.routers.classify import REQUEST_BODY
from service.runtimes import captioner as rt
from service.schemas.caption import CaptionAlternative, CaptionAttention, CaptionResponse, CaptionResult
from service.schemas.common import ErrorResponse
from service.uploads import uploaded_images

router = APIRouter(prefix="/v1", tags=["caption"])
ERRORS = {code: {"model": ErrorResponse} for code in (404, 413, 415, 422, 429, 503, 504)}
MAX_LENGTH = 50


def to_schema(name: str, result: rt.CaptionResult, with_attention: bool) -> CaptionResult:
    best = result.best
    attention = None
    if with_attention and best.attention is not None:
        side = math.isqrt(best.attention.shape[1])
        attention = CaptionAttention(words=best.words, grid=[side, side], weights=best.attention.tolist())
    return CaptionResult(
        name=name,
        caption=best.text,
        score=best.score,
        alternatives=[CaptionAlternative(caption=a.text, score=a.score) for a in result.alternatives],
        attention=attention,
    )


@router.post("/caption", response_model=CaptionResponse, responses=ERRORS, openapi_extra=REQUEST_BODY)
async def caption(
    request: Request,
    repository: RepositoryDep,
    settings: SettingsDep,
    model: Annotated[str | None, Query(description="model name; default: the first caption model")] = None,
    version: Annotated[int | None, Query(ge=1, description="the version to use; 404 unless it is served")] = None,
    beam_size: Annotated[int, Query(ge=1, le=10, description="1 (greedy) .. 10")] = 3,
    max_length: Annotated[int | None, Query(ge=1, le=MAX_LENGTH, description="max words; default 20")] = None,
    num_alternatives: Annotated[int, Query(ge=0, le=5, description="next-best captions, < beam_size")] = 0,
    return_attention: Annotated[bool, Query(description="the best caption's word x region weights")] = False,
) -> CaptionResponse:
    entry, runtime = repository.runtime(model, "caption", version)
    assert isinstance(runtime, rt.CaptionerRuntime) and isinstance(entry.engine, CaptionerEngine)
    request.state.model = entry.name
    if num_alternatives >= beam_size:
        raise InvalidInput(
            f"num_alternatives is {num_alternatives} but beam_size is {beam_size}; a beam of k keeps at most "
            f"k - 1 alternatives: raise beam_size or lower num_alternatives"
        )
    timeout = deadline_seconds(request, settings.request_timeout_s)
    started = time.perf_counter()
    engine = entry.engine
    with engine.admission.slot():  # 429 here, before the body is read or decoded
        announce = engine.batcher.announce() if engine.batcher else contextlib.nullcontext()
        with announce:
            images = await uploaded_images(request, settings.max_upload_bytes, settings.max_images_per_request)
            rows = await decode_images(images, settings.max_image_pixels, runtime.preprocess)
        encoded = await guarded(request, engine.encode(rows), timeout)
        job = runtime.job(encoded, beam_size, max_length)
        remaining = max(timeout - (time.perf_counter() - started), 1e-3)  # one deadline for both stages
        await guarded(request, engine.run(job), remaining)
    return CaptionResponse(
        model=entry.name,
        version=entry.version or 0,
        results=[
            to_schema(name, r, return_attention)
            for (name, _), r in zip(images, runtime.results(job, num_alternatives), strict=True)
        ],
    )
