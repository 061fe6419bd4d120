"""Schemas shared by every endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel

# The query parameters of the routes whose body is an upload (classify, caption).
ModelQuery = Annotated[str | None, Query(description="model name; default: the task's default model")]
VersionQuery = Annotated[int | None, Query(ge=1, description="the version to use; 404 unless it is served")]


class ErrorResponse(BaseModel):
    error: str
    detail: str
    request_id: str
