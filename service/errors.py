"""Project exceptions and their one mapping to HTTP responses.

Every route answers errors as `{"error", "detail", "request_id"}`, except the Open Inference Protocol routes
under /v2, which answer `{"error": "..."}` as that protocol specifies, with 400 where others say 422.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core.errors import InputError

log = logging.getLogger("dlserve")


class ServiceError(Exception):
    """Base: `status` is the HTTP status; the message says what was wrong and what is allowed."""

    status = 500
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    status, code = 422, "invalid_input"


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class ModelNotFound(ServiceError):
    status, code = 404, "model_not_found"


class ModelNotReady(ServiceError):
    status, code = 503, "model_not_ready"


class Overloaded(ServiceError):
    status, code = 429, "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeadlineExceeded(ServiceError):
    status, code = 504, "deadline_exceeded"


V2_PREFIX = "/v2"


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "-")


def is_v2(path: str) -> bool:
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def error_body(code: str, message: str, request: Request) -> dict[str, str]:
    if is_v2(request.url.path):
        return {"error": message}
    return {"error": code, "detail": message, "request_id": request_id(request)}


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one place an error becomes a response (handlers and middlewares alike)."""
    if is_v2(request.url.path) and status == 422:
        status = 400  # the v2 protocol's status for a malformed request
    return JSONResponse(error_body(code, message, request), status_code=status, headers=headers)


WHOLE_BODY_ERRORS = ("missing", "model_attributes_type", "dict_type", "model_type")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            parts.append(f"body is not valid JSON: {err.get('ctx', {}).get('error', 'decode error')}")
            continue
        if tuple(err.get("loc", ())) == ("body",) and err.get("type") in WHOLE_BODY_ERRORS:
            # A form, a JSON array or no body at all: pydantic's "valid dictionary" message names no fix.
            parts.append("body must be a JSON object sent with Content-Type: application/json")
            continue
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "request"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else None
        return error_response(request, exc.status, exc.code, exc.message, headers)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return error_response(request, 422, InvalidInput.code, exc.message)  # the shared code's own 422

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
                 413: "payload_too_large"}  # fmt: skip
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's 400 for a body it cannot decode (e.g. not UTF-8); its bad JSON syntax is a 422, as is
            # every other invalid body, and 422 is what the routes document (v2 turns it into its 400).
            message = "body is not valid JSON (it must be UTF-8 encoded JSON)"
            return error_response(request, 422, "invalid_input", message)
        code = codes.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":  # no route matched: say where the routes are
            detail = f"no route for {request.url.path!r}; the routes are listed at /docs and /openapi.json"
        elif exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
            detail = f"{request.method} is not allowed on {request.url.path!r}; allowed: {exc.headers['Allow']}"
        return error_response(request, exc.status_code, code, detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 422, "invalid_input", _validation_message(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A backstop: RequestMiddleware answers unexpected errors itself. Starlette calls this from its outermost
        # middleware, past the one that adds X-Request-ID, so the header is added here.
        return unexpected_error(request, exc, {"X-Request-ID": request_id(request)})


def unexpected_error(request: Request, exc: Exception, headers: dict[str, str] | None = None) -> JSONResponse:
    """Log `exc` with its traceback and the request id; the client gets a plain 500 naming that id."""
    rid = request_id(request)
    log.error("unhandled error in request %s", rid, exc_info=exc, extra={"request_id": rid})
    # The v2 body has only "error": the id goes into its message.
    message = f"internal server error (request {rid})" if is_v2(request.url.path) else "internal server error"
    return error_response(request, 500, "internal_error", message, headers)
