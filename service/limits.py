"""Request body limits for every endpoint: 413 when Content-Length says too much, or as soon as the bytes read
pass the limit (chunked bodies); 408 when the body has not fully arrived within its deadline, so a client that
sends slowly or stalls cannot hold a connection, an admission slot and the shutdown drain forever (uvicorn's
own timeouts cover idle keep-alive connections, not a body in progress)."""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response


class BodyTooLarge(HTTPException):
    # An HTTPException, so that FastAPI's body parsing re-raises it instead of calling it a malformed body.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        # Connection: close, as the rest of the body may still be on its way on this connection.
        message = f"the request body did not arrive within {seconds:g} s; send it faster or retry"
        super().__init__(408, message, headers={"Connection": "close"})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int, timeout_s: float = 30.0) -> None:
        self.app, self.limit, self.timeout_s = app, limit, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            message = f"request body is {declared} bytes; the limit is {self.limit} bytes"
            await error_response(Request(scope), 413, "payload_too_large", message)(scope, receive, send)
            return
        seen, complete, deadline = 0, False, asyncio.get_running_loop().time() + self.timeout_s

        async def limited() -> Message:
            nonlocal seen, complete
            if complete:  # after the body, receive() waits for a disconnect, which may rightly take long
                return await receive()
            # A timeout scope, not wait_for: wait_for wraps every receive() in a task of its own.
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.timeout_s) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)
