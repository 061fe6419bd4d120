"""Direct routes: the inference routes answered without FastAPI's per-request routing, dependency solving and
response validation, which cost as much as LeNet-5's whole preprocessing on every request.

A direct route is still the APIRoute that FastAPI documents and that every other method or malformed path
reaches; here only its parameters are bound (by the same pydantic declarations) and its handler called (the
same function), and its answer written with pydantic's JSON encoder. The middleware sits inside the service's
own (request ids, metrics, logs, drain, keys, body limit) and maps exceptions with the app's exception
handlers, so every answer, errors included, is the one the APIRoute would give.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.dependencies import get_calls
from service.routers import classify, v2
from service.schemas.classify import ClassifyParams

Handler = Callable[[Request, dict[str, str]], Awaitable[Any]]


async def _classify(request: Request, path: dict[str, str]) -> Any:
    params = _query(ClassifyParams, request)
    return await classify.classify(await get_calls(request), params)


async def _infer(request: Request, path: dict[str, str]) -> Any:
    return await v2.infer(path["name"], request, await get_calls(request), path.get("version"))


# (router, method, APIRoute path, handler): the path's {params} match one segment, as Starlette's do.
ROUTES: tuple[tuple[APIRouter, str, str, Handler], ...] = (
    (classify.router, "POST", "/v1/classify", _classify),
    (v2.router, "POST", "/v2/models/{name}/infer", _infer),
    (v2.router, "POST", "/v2/models/{name}/versions/{version}/infer", _infer),
)


def _query(model: type[BaseModel], request: Request) -> Any:
    """The query string bound to `model`, or the RequestValidationError FastAPI would raise for it."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("query", *err["loc"])} for err in e.errors()]) from None


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    route: APIRoute  # for the metrics' endpoint label (scope["route"]) and its response model
    handler: Handler


class DirectRoutes:
    """ASGI middleware: POSTs to the inference routes go straight to their handlers; the rest to the app."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app, self.api = app, api
        self.routes: dict[str, list[_Route]] = {}
        for router, method, path, handler in ROUTES:
            (route,) = (r for r in router.routes if isinstance(r, APIRoute) and r.path == path and method in r.methods)
            regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"
            self.routes.setdefault(method, []).append(_Route(re.compile(regex), route, handler))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for direct in self.routes.get(scope["method"], ()):
                if match := direct.pattern.match(scope["path"]):
                    await self._serve(direct, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, direct: _Route, path: dict[str, str], scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"], scope["path_params"] = direct.route, path
        request = Request(scope, receive, send)
        try:
            result = await direct.handler(request, path)
            if not isinstance(result, Response):
                result = Response(result.model_dump_json(), media_type="application/json")
        except Exception as exc:
            result = await self._handled(request, exc)
        finally:
            await request.close()  # an upload's spooled files
        await result(scope, receive, send)

    async def _handled(self, request: Request, exc: Exception) -> Response:
        """The app's own handler for `exc` (the nearest class in its MRO); re-raised when it has none."""
        handlers = self.api.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers and cls is not Exception:  # unexpected errors: RequestMiddleware answers them
                return await handlers[cls](request, exc)
        raise exc
