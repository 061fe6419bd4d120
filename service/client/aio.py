"""`AsyncClient`: the typed API over httpx, for asyncio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, overload

import httpx

from service.client import base
from service.client.base import Finish, Image
from service.schemas.caption import CaptionResponse
from service.schemas.classify import ClassifyResponse
from service.schemas.generate import GenerateResponse
from service.schemas.models import ModelList
from service.schemas.translate import TranslateResponse


class AsyncTextStream:
    """A streamed generation: `async for` the text as it arrives; `finish` says how it ended, once it has."""

    def __init__(self, open_stream: Callable[[], AbstractAsyncContextManager[httpx.Response]]) -> None:
        self._open = open_stream
        self.finish: Finish | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        async with self._open() as response:
            if response.is_error:
                await response.aread()
                raise base.error_of(response)
            events = base.Events(response.status_code, response.headers.get("x-request-id"))
            async for line in response.aiter_lines():
                for piece in events.feed(line):
                    yield piece
            events.check_complete()
            self.finish = events.finish


class AsyncClient:
    """The same methods as `Client`, awaited: `await dl.classify(...)`; a stream is iterated,
    `async for text in dl.generate(prompt, stream=True)`."""

    def __init__(
        self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
        timeout: float = base.DEFAULT_TIMEOUT_S,
    ) -> None:  # fmt: skip
        self.http = httpx.AsyncClient(base_url=base_url, headers=base.headers(api_key), timeout=timeout)

    async def _send(self, request: base.Request) -> httpx.Response:
        return await self.http.request(
            request.method, request.path, params=request.params, json=request.json, files=request.files
        )

    async def models(self) -> ModelList:
        return base.parsed(await self.http.get("/v1/models"), ModelList)

    async def classify(
        self, images: Image | Iterable[Image], *, model: str | None = None, version: int | None = None, top_k: int = 3
    ) -> ClassifyResponse:
        params = base.query(model=model, version=version, top_k=top_k)
        request = base.Request("POST", "/v1/classify", params, files=base.image_files(images))
        return base.parsed(await self._send(request), ClassifyResponse)

    async def caption(
        self, images: Image | Iterable[Image], *, model: str | None = None, version: int | None = None,
        beam_size: int = 3, max_length: int | None = None, num_alternatives: int = 0, return_attention: bool = False,
    ) -> CaptionResponse:  # fmt: skip
        params = base.query(model=model, version=version, beam_size=beam_size, max_length=max_length,
                            num_alternatives=num_alternatives, return_attention=return_attention)  # fmt: skip
        request = base.Request("POST", "/v1/caption", params, files=base.image_files(images))
        return base.parsed(await self._send(request), CaptionResponse)

    async def translate(self, texts: str | Iterable[str], target: str = "fr", **options: Any) -> TranslateResponse:
        request = base.Request("POST", "/v1/translate", json=base.translate_body(texts, target, **options))
        return base.parsed(await self._send(request), TranslateResponse)

    @overload
    def generate(
        self, prompt: str, *, stream: Literal[False] = False, **options: Any
    ) -> Coroutine[Any, Any, GenerateResponse]: ...
    @overload
    def generate(self, prompt: str, *, stream: Literal[True], **options: Any) -> AsyncTextStream: ...

    def generate(
        self, prompt: str, *, stream: bool = False, **options: Any
    ) -> Coroutine[Any, Any, GenerateResponse] | AsyncTextStream:
        """As `Client.generate`: `await dl.generate(prompt)`, or `async for text in dl.generate(prompt,
        stream=True)` (not awaited: the stream is iterated)."""
        doc = base.body(prompt=prompt, stream=stream, **options)
        if stream:
            return AsyncTextStream(lambda: self.http.stream("POST", "/v1/generate", json=doc))
        return self._whole(doc)

    async def _whole(self, doc: dict[str, Any]) -> GenerateResponse:
        return base.parsed(await self._send(base.Request("POST", "/v1/generate", json=doc)), GenerateResponse)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
