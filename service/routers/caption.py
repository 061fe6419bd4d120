"""POST /v1/caption: photos in (multipart or base64 JSON), captions out by beam search, in request order."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query

from service.dependencies import CallsDep
from service.errors import InvalidInput
from service.routers.classify import REQUEST_BODY
from service.runtimes import captioner as rt
from service.schemas.caption import CaptionAlternative, CaptionAttention, CaptionResponse, CaptionResult
from service.schemas.common import ErrorResponse, ModelQuery, VersionQuery

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
    calls: CallsDep,
    model: ModelQuery = None,
    version: VersionQuery = None,
    beam_size: Annotated[int, Query(ge=1, le=10, description="1 (greedy) .. 10")] = 3,
    max_length: Annotated[int | None, Query(ge=1, le=MAX_LENGTH, description="max words; default 20")] = None,
    num_alternatives: Annotated[int, Query(ge=0, le=5, description="next-best captions, < beam_size")] = 0,
    return_attention: Annotated[bool, Query(description="the best caption's word x region weights")] = False,
) -> CaptionResponse:
    if num_alternatives >= beam_size:
        raise InvalidInput(
            f"num_alternatives is {num_alternatives} but beam_size is {beam_size}; a beam of k keeps at most "
            f"k - 1 alternatives: raise beam_size or lower num_alternatives"
        )
    async with calls.admit(rt.CaptionerRuntime, model, version) as call:  # 429 here, before the body is read
        names, rows = await call.images()
        encoded = await call.run(call.engine.batch(rows))
        job = call.runtime.job(encoded, beam_size, max_length)
        await call.run(call.engine.run(job))  # the rest of the same deadline
    results = call.runtime.results(job, num_alternatives)
    return CaptionResponse(
        model=call.entry.name,
        version=call.version,
        results=[to_schema(name, r, return_attention) for name, r in zip(names, results, strict=True)],
    )
