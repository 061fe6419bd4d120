"""POST /v1/generate: sample text from a character-level model, as JSON or as server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from core.decoding.sampling import SamplingParams
from service.dependencies import CallsDep, MetricsDep, ModelCall
from service.errors import ServiceError
from service.metrics import Metrics
from service.runtimes.generator import Finish, GenerationRequest, GeneratorRuntime
from service.schemas.common import ErrorResponse
from service.schemas.generate import GenerateRequest, GenerateResponse

log = logging.getLogger("dlserve")
router = APIRouter(prefix="/v1", tags=["generate"])
ERRORS = {code: {"model": ErrorResponse} for code in (404, 422, 429, 503, 504)}
SSE_DOC = {200: {"content": {"text/event-stream": {"example": 'data: {"text": "R"}\n\n...data: [DONE]\n\n'}}}}


def sse(data: object, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


class Generation:
    """One request's generation driven by the model's scheduler; pieces arrive on an asyncio queue."""

    def __init__(self, call: ModelCall[GeneratorRuntime], req: GenerationRequest, metrics: Metrics) -> None:
        self.call, self.entry, self.req, self.metrics = call, call.entry, req, metrics
        self.queue: asyncio.Queue[str | Finish | BaseException] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.started = time.perf_counter()
        self.first_at: float | None = None

    def emit(self, item: str | Finish) -> None:  # called from the prefill thread or the scheduler (on the loop)
        if threading.get_ident() == self.loop_thread:
            self.queue.put_nowait(item)
        else:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    async def drive(self) -> None:
        runtime, engine = self.call.runtime, self.call.engine
        job = await run_in_threadpool(runtime.start, self.req, self.emit)
        try:
            await engine.run(job)
        except Exception as e:
            self.queue.put_nowait(e)
        finally:
            job.close()  # also when cancelled: the job leaves the scheduler and the active count

    async def items(self) -> AsyncIterator[str | Finish]:
        while True:
            item = await self.queue.get()
            if isinstance(item, BaseException):
                raise item
            if self.first_at is None:
                self.first_at = time.perf_counter()
                self.metrics.ttft.labels(self.entry.name).observe(self.first_at - self.started)
            if isinstance(item, Finish):
                self.metrics.tokens.labels(self.entry.name).inc(item.tokens)
                elapsed = time.perf_counter() - self.started
                self.metrics.tokens_per_second.labels(self.entry.name).observe(item.tokens / max(elapsed, 1e-9))
            yield item
            if isinstance(item, Finish):
                return

    async def collect(self) -> tuple[str, Finish]:
        driver = asyncio.ensure_future(self.drive())
        try:
            pieces = []
            async for item in self.items():
                if isinstance(item, Finish):
                    await driver
                    return "".join(pieces), item
                pieces.append(item)
            raise RuntimeError("generation ended without a finish")
        finally:
            driver.cancel()


async def stream_events(gen: Generation, seed: int) -> AsyncIterator[str]:
    driver = asyncio.ensure_future(gen.drive())
    try:
        async for item in gen.items():
            if isinstance(item, Finish):
                yield sse({"finish_reason": item.reason, "tokens": item.tokens, "model": gen.entry.name,
                           "version": gen.entry.version, "seed": seed})  # fmt: skip
            else:
                yield sse({"text": item})
        yield sse("[DONE]")
    finally:
        driver.cancel()  # a disconnect or the deadline ends this generator: the job leaves before its next step
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await driver


def error_event(exc: Exception) -> str:
    """The status line is already sent: an error ends the stream with an `error` event."""
    if isinstance(exc, ServiceError):
        return sse({"error": exc.code, "detail": exc.message}, event="error")
    log.error("generation failed mid-stream", exc_info=exc)
    return sse({"error": "internal_error", "detail": f"generation failed: {type(exc).__name__}"}, event="error")


@router.post("/generate", response_model=GenerateResponse, responses={**ERRORS, **SSE_DOC})
async def generate(body: GenerateRequest, calls: CallsDep, metrics: MetricsDep):
    seed = secrets.randbits(63) if body.seed is None else body.seed
    req = GenerationRequest(
        prompt=body.prompt,
        max_tokens=body.max_tokens,
        sampling=SamplingParams(body.temperature, body.top_k, body.top_p),
        seed=seed,
        stop=tuple(body.stop),
    )
    if body.stream:
        call = calls.open_stream(GeneratorRuntime, body.model, body.version)  # 429 before the stream starts
        call.runtime.encode(body.prompt)  # 422 for characters outside the vocabulary, before any response
        events = call.stream(stream_events(Generation(call, req, metrics), seed), error_event)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    async with calls.admit(GeneratorRuntime, body.model, body.version) as call:
        call.runtime.encode(body.prompt)
        text, finish = await call.run(Generation(call, req, metrics).collect())
    return GenerateResponse(
        model=call.entry.name, version=call.version, text=text, tokens=finish.tokens,
        finish_reason=finish.reason, seed=seed,
    )  # fmt: skip
