"""Reading request bodies under a size limit, and extracting uploaded images from multipart or JSON."""

from __future__ import annotations

import base64
import binascii
import json

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from core.errors import first_problem
from service.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from service.schemas.classify import ClassifyJSONRequest

ALLOWED_CONTENT_TYPES = "multipart/form-data (field 'files') or application/json ({\"images\": [base64, ...]})"


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it exceeds `limit` (Content-Length or while streaming)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # let request.form() / request.json() parse what we already read
    return body


def _decode_base64(item: str, name: str) -> bytes:
    if item.startswith("data:"):
        _, _, item = item.partition(",")
    try:
        return base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{name}: not valid base64; send the image file's bytes base64-encoded") from None


async def uploaded_images(request: Request, limit: int, max_images: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of each image in the request, in request order."""
    body = await read_body(request, limit)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=max_images, max_fields=max_images, max_part_size=limit)
        except Exception as e:  # malformed multipart, too many parts
            raise InvalidInput(f"malformed multipart body: {e}") from None
        files = form.getlist("files")
        if not files:
            raise InvalidInput(f"no 'files' field in the multipart body; fields sent: {sorted(set(form.keys()))}")
        out = []
        for i, f in enumerate(files):
            if not isinstance(f, UploadFile):
                raise InvalidInput(f"files[{i}] is a text field, not a file upload")
            out.append((f.filename or f"files[{i}]", await f.read()))
        return out
    if content_type == "application/json":
        try:
            req = ClassifyJSONRequest.model_validate(json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InvalidInput(f"body is not valid JSON: {e}") from None
        except ValidationError as e:
            raise InvalidInput(first_problem(e, "body")) from None
        if len(req.images) > max_images:
            raise InvalidInput(f"{len(req.images)} images sent; at most {max_images} per request")
        return [(f"images[{i}]", _decode_base64(s, f"images[{i}]")) for i, s in enumerate(req.images)]
    raise UnsupportedMediaType(
        f"content type {content_type or 'missing'!r} is not accepted; send {ALLOWED_CONTENT_TYPES}"
    )
