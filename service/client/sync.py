"""`Client`: the typed API over httpx, blocking."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Literal, overload

import httpx

from service.client import base
from service.client.base import Finish, Image
from service.schemas.caption import CaptionResponse
from service.schemas.classify import ClassifyResponse
from service.schemas.generate import GenerateResponse
from service.schemas.models import ModelList
from service.schemas.translate import TranslateResponse


class TextStream:
    """A streamed generation: iterate for the text as it arrives; `finish` says how it ended, once it has.
    The request is sent when the iteration starts; an error answer (e.g. 429) is raised from there."""

    def __init__(self, open_stream: Callable[[], AbstractContextManager[httpx.Response]]) -> None:
        self._open = open_stream
        self.finish: Finish | None = None

    def __iter__(self) -> Iterator[str]:
        with self._open() as response:
            if response.is_error:
                response.read()
                raise base.error_of(response)
            events = base.Events(response.status_code, response.headers.get("x-request-id"))
            for line in response.iter_lines():
                yield from events.feed(line)
            events.check_complete()
            self.finish = events.finish


class Client:
    """dlserve's /v1 API. `api_key` is sent as `Authorization: Bearer`; errors raise `DlserveError`.

    >>> with Client("http://127.0.0.1:8000") as dl:
    ...     dl.translate("A dog runs.", target="fr").translations[0].text
    """

    def __init__(
        self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
        timeout: float = base.DEFAULT_TIMEOUT_S,
    ) -> None:  # fmt: skip
        self.http = httpx.Client(base_url=base_url, headers=base.headers(api_key), timeout=timeout)

    def _send(self, request: base.Request) -> httpx.Response:
        return self.http.request(
            request.method, request.path, params=request.params, json=request.json, files=request.files
        )

    def models(self) -> ModelList:
        return base.parsed(self.http.get("/v1/models"), ModelList)

    def classify(
        self, images: Image | Iterable[Image], *, model: str | None = None, version: int | None = None, top_k: int = 3
    ) -> ClassifyResponse:
        """Top-k labels for each image (paths or bytes), in order."""
        params = base.query(model=model, version=version, top_k=top_k)
        request = base.Request("POST", "/v1/classify", params, files=base.image_files(images))
        return base.parsed(self._send(request), ClassifyResponse)

    def caption(
        self, images: Image | Iterable[Image], *, model: str | None = None, version: int | None = None,
        beam_size: int = 3, max_length: int | None = None, num_alternatives: int = 0, return_attention: bool = False,
    ) -> CaptionResponse:  # fmt: skip
        """A caption for each photo (paths or bytes), in order."""
        params = base.query(model=model, version=version, beam_size=beam_size, max_length=max_length,
                            num_alternatives=num_alternatives, return_attention=return_attention)  # fmt: skip
        request = base.Request("POST", "/v1/caption", params, files=base.image_files(images))
        return base.parsed(self._send(request), CaptionResponse)

    def translate(self, texts: str | Iterable[str], target: str = "fr", **options: Any) -> TranslateResponse:
        """One translation per sentence; `options`: source, model, version, beam_size, max_length,
        return_attention (as in POST /v1/translate)."""
        request = base.Request("POST", "/v1/translate", json=base.translate_body(texts, target, **options))
        return base.parsed(self._send(request), TranslateResponse)

    @overload
    def generate(self, prompt: str, *, stream: Literal[False] = False, **options: Any) -> GenerateResponse: ...
    @overload
    def generate(self, prompt: str, *, stream: Literal[True], **options: Any) -> TextStream: ...

    def generate(self, prompt: str, *, stream: bool = False, **options: Any) -> GenerateResponse | TextStream:
        """Text continuing `prompt`: the whole response, or with `stream=True` the text as it is sampled.
        `options`: max_tokens, temperature, top_k, top_p, seed, stop, model, version (POST /v1/generate)."""
        doc = base.body(prompt=prompt, stream=stream, **options)
        if stream:
            return TextStream(lambda: self.http.stream("POST", "/v1/generate", json=doc))
        return base.parsed(self._send(base.Request("POST", "/v1/generate", json=doc)), GenerateResponse)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
