"""Liveness and readiness responses."""

from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    draining: bool = False  # SIGTERM received: finishing the requests in flight, then exiting
    models: dict[str, str]
