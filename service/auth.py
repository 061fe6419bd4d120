"""Optional API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`, compared in constant time.

With DLSERVE_API_KEYS set, every path needs a key except DLSERVE_AUTH_OPEN_PATHS (probes and metrics by
default); repository load/unload are never open. A missing or wrong key gets 401 with `WWW-Authenticate`.
`APIKeys` is the check itself, shared with the gRPC server (service/grpc/rpc.py), which reads the same two
headers from the call's metadata.
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


MISSING = "an API key is required: send Authorization: Bearer <key> or X-API-Key"
INVALID = "the API key is not valid"


class APIKeys:
    def __init__(self, keys: list[str]) -> None:
        self.digests = [_digest(k) for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    @staticmethod
    def presented(authorization: str | None, x_api_key: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return x_api_key or None

    def valid(self, key: str) -> bool:
        digest, ok = _digest(key), False
        for known in self.digests:  # no early exit: every key is compared
            ok |= hmac.compare_digest(digest, known)
        return ok

    def refusal(self, key: str | None) -> str | None:
        """None when `key` lets the request in, else why not."""
        if key is not None and self.valid(key):
            return None
        return MISSING if key is None else INVALID


class APIKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: list[str], open_paths: list[str]) -> None:
        self.app = app
        self.keys = APIKeys(keys)
        self.open_paths = {p for p in open_paths if not p.startswith(ALWAYS_KEYED_PREFIX)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys.enabled or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        key = self.keys.presented(request.headers.get("authorization"), request.headers.get("x-api-key"))
        message = self.keys.refusal(key)
        if message is None:
            await self.app(scope, receive, send)
            return
        challenge = REALM if key is None else f'{REALM}, error="invalid_token"'
        response = error_response(request, 401, "unauthorized", message, {"WWW-Authenticate": challenge})
        await response(scope, receive, send)
