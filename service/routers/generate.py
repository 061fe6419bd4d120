"""POST /v1/generate: sample text from a character-level model, as JSON or as server-sent events."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.decoding.sampling import SamplingParams
from service.dependencies import RepositoryDep
from service.repository import ModelEntry
from service.runtimes.generator import Finish, GenerationRequest, GeneratorRuntime
from service.schemas.common import ErrorResponse
from service.schemas.generate import GenerateRequest, GenerateResponse

log = logging.getLogger("dlserve")
router = APIRouter(prefix="/v1", tags=["generate"])
ERRORS = {code: {"model": ErrorResponse} for code in (404, 422, 503)}
SSE_DOC = {200: {"content": {"text/event-stream": {"example": 'data: {"text": "R"}\n\n...data: [DONE]\n\n'}}}}
CHUNK = 16  # characters computed per worker-thread hop for JSON responses


def take(it: Iterator[str | Finish], n: int) -> list[str | Finish]:
    out: list[str | Finish] = []
    for item in it:
        out.append(item)
        if isinstance(item, Finish) or len(out) >= n:
            break
    return out


def sse(data: object, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


async def stream_events(
    it: Iterator[str | Finish], entry: ModelEntry, seed: int, request: Request
) -> AsyncIterator[str]:
    try:
        while True:
            items = await run_in_threadpool(take, it, 1)
            if not items:
                break
            item = items[0]
            if isinstance(item, Finish):
                yield sse({"finish_reason": item.reason, "tokens": item.tokens, "model": entry.name,
                           "version": entry.version, "seed": seed})  # fmt: skip
                break
            yield sse({"text": item})
        yield sse("[DONE]")
    except Exception as e:  # the status line is already sent: report the error in the stream
        log.exception("generation failed mid-stream (request %s)", getattr(request.state, "request_id", "-"))
        yield sse({"error": "internal_error", "detail": f"generation failed: {type(e).__name__}"}, event="error")
    finally:
        it.close()  # type: ignore[attr-defined]  # a disconnect cancels us here: no more steps run


@router.post("/generate", response_model=GenerateResponse, responses={**ERRORS, **SSE_DOC})
async def generate(body: GenerateRequest, request: Request, repository: RepositoryDep):
    entry, runtime = repository.runtime(body.model, "generate")
    assert isinstance(runtime, GeneratorRuntime)
    runtime.encode(body.prompt)  # 422 for characters outside the vocabulary, before any response starts
    seed = secrets.randbits(63) if body.seed is None else body.seed
    req = GenerationRequest(
        prompt=body.prompt,
        max_tokens=body.max_tokens,
        sampling=SamplingParams(body.temperature, body.top_k, body.top_p),
        seed=seed,
        stop=tuple(body.stop),
    )
    it = runtime.generate(req)
    if body.stream:
        return StreamingResponse(
            stream_events(it, entry, seed, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    pieces: list[str] = []
    try:
        while True:
            items = await run_in_threadpool(take, it, CHUNK)
            pieces += [i for i in items if isinstance(i, str)]
            if items and isinstance(items[-1], Finish):
                finish = items[-1]
                break
            if await request.is_disconnected():
                log.info("client went away: generation stopped after %d characters", len(pieces))
                return None
    finally:
        it.close()  # type: ignore[attr-defined]
    return GenerateResponse(
        model=entry.name, version=entry.version or 0, text="".join(pieces), tokens=finish.tokens,
        finish_reason=finish.reason, seed=seed,
    )  # fmt: skip
