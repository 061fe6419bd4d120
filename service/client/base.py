"""What the sync and async clients share: building each request, reading each response, the SSE stream of
/v1/generate, and the error raised for a non-2xx answer. No I/O here."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

Image = str | os.PathLike[str] | bytes  # a path to an image file, or the file's bytes
M = TypeVar("M", bound=BaseModel)
DEFAULT_TIMEOUT_S = 60.0


class DlserveError(Exception):
    """The server refused the request: its HTTP status, error code and detail (and request id, to find its log)."""

    def __init__(self, status: int, error: str, detail: str, request_id: str | None = None) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail, self.request_id = status, error, detail, request_id


class StreamError(DlserveError):
    """An error event that ended a stream: the status line (`status`, 200) had been sent before it happened."""


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes]]] | None = None


@dataclass(frozen=True)
class Finish:
    """How a streamed generation ended."""

    finish_reason: str
    tokens: int
    model: str
    version: int
    seed: int


def headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def image_files(images: Image | Iterable[Image]) -> list[tuple[str, tuple[str, bytes]]]:
    """Multipart `files` parts: a path's file under its own name, bytes as image-<i>."""
    if isinstance(images, str | bytes | os.PathLike):
        images = [images]
    parts = []
    for i, image in enumerate(images):
        if isinstance(image, bytes):
            parts.append(("files", (f"image-{i}", image)))
        else:
            path = Path(image)
            parts.append(("files", (path.name, path.read_bytes())))
    if not parts:
        raise ValueError("no images given: pass at least one path or bytes")
    return parts


def query(**params: Any) -> dict[str, Any]:
    """Query parameters, leaving out the ones not set (the server's defaults apply)."""
    return {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items() if v is not None}


def body(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def translate_body(texts: str | Iterable[str], target: str, **fields: Any) -> dict[str, Any]:
    sentences = {"text": texts} if isinstance(texts, str) else {"texts": list(texts)}
    return body(**sentences, target=target, **fields)


def error_of(response: httpx.Response) -> DlserveError:
    """The error a non-2xx response carries: `{"error", "detail", "request_id"}` (or v2's `{"error"}`)."""
    rid = response.headers.get("x-request-id")
    try:
        doc = response.json()
    except ValueError:
        return DlserveError(response.status_code, "http_error", response.text[:500] or response.reason_phrase, rid)
    if not isinstance(doc, dict):
        return DlserveError(response.status_code, "http_error", str(doc)[:500], rid)
    detail = str(doc.get("detail", doc.get("error", "")))
    return DlserveError(response.status_code, str(doc.get("error", "http_error")), detail, doc.get("request_id", rid))


def parsed(response: httpx.Response, model: type[M]) -> M:
    if response.is_error:
        raise error_of(response)
    return model.model_validate(response.json())


class Events:
    """Server-sent events of /v1/generate, one line at a time: text pieces out, the finish kept, errors raised."""

    def __init__(self, status: int, request_id: str | None) -> None:
        self.status, self.request_id = status, request_id
        self.event: str | None = None
        self.finish: Finish | None = None
        self.done = False

    def feed(self, line: str) -> Iterator[str]:
        if line.startswith("event:"):
            self.event = line.removeprefix("event:").strip()
            return
        if not line.startswith("data:"):
            return  # blank separators, comments
        data, event = line.removeprefix("data:").strip(), self.event
        self.event = None
        if data == "[DONE]":
            self.done = True
            return
        doc = json.loads(data)
        if event == "error":
            raise StreamError(self.status, doc.get("error", "error"), doc.get("detail", ""), self.request_id)
        if "text" in doc:
            yield doc["text"]
        elif "finish_reason" in doc:
            self.finish = Finish(**{k: doc[k] for k in ("finish_reason", "tokens", "model", "version", "seed")})

    def check_complete(self) -> None:
        if not self.done:
            raise StreamError(self.status, "incomplete_stream", "the stream ended before its [DONE]", self.request_id)
