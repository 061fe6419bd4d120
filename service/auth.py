"""Optional API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`, compared in constant time.

With DLSERVE_API_KEYS set, every path needs a key except DLSERVE_AUTH_OPEN_PATHS (probes and metrics by
default); repository load/unload are never open. A missing or wrong key gets 401 with `WWW-Authenticate`.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import error_response
from service.settings import ALWAYS_KEYED_PREFIX

REALM = 'Bearer realm="dlserve"'


def _digest(key: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison's time independent of the keys' lengths too.
    return hashlib.sha256(key.encode()).digest()


class APIKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: list[str], open_paths: list[str]) -> None:
        self.app = app
        self.digests = [_digest(k) for k in keys]
        self.open_paths = {p for p in open_paths if not p.startswith(ALWAYS_KEYED_PREFIX)}

    def presented(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return request.headers.get("x-api-key") or None

    def valid(self, key: str) -> bool:
        digest, ok = _digest(key), False
        for known in self.digests:  # no early exit: every key is compared
            ok |= hmac.compare_digest(digest, known)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.digests or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        key = self.presented(request)
        if key is not None and self.valid(key):
            await self.app(scope, receive, send)
            return
        if key is None:
            message, challenge = "an API key is required: send Authorization: Bearer <key> or X-API-Key", REALM
        else:
            message, challenge = "the API key is not valid", f'{REALM}, error="invalid_token"'
        response = error_response(request, 401, "unauthorized", message, {"WWW-Authenticate": challenge})
        await response(scope, receive, send)
