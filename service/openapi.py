"""The OpenAPI schema, with the error bodies the service really sends.

FastAPI documents a 422 with its own `HTTPValidationError` body on every route that takes parameters, but
service/errors.py answers validation errors as `ErrorResponse`, and on the v2 routes as a 400 `V2Error`.
Routes that read their body themselves (images, v2 tensors, repository requests) name its schema in
`openapi_extra`; FastAPI does not see those models, so they are added to the components here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.errors import is_v2
from service.schemas.classify import ClassifyJSONRequest
from service.schemas.v2 import InferRequest, InferResponse, RepositoryRequest

BODY_MODELS: tuple[type[BaseModel], ...] = (ClassifyJSONRequest, InferRequest, InferResponse, RepositoryRequest)

FASTAPI_422 = "#/components/schemas/HTTPValidationError"
ERROR_422 = {
    "description": "Invalid input: what was wrong and what is allowed",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def service_openapi(app: FastAPI) -> dict[str, Any]:
    """`app.openapi()` with FastAPI's default 422 replaced by ours (v2: removed, its routes answer 400)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.get("responses", {})
                default = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema")
                if default != {"$ref": FASTAPI_422}:
                    continue
                if is_v2(path):
                    del responses["422"]
                else:
                    responses["422"] = ERROR_422
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        _, extra = models_json_schema(
            [(m, "validation") for m in BODY_MODELS], ref_template="#/components/schemas/{model}"
        )
        components.update(extra.get("$defs", {}))
        app.openapi_schema = schema
    return app.openapi_schema
