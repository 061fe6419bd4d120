"""GET /v1/models responses."""

from __future__ import annotations

from pydantic import BaseModel


class ModelInfo(BaseModel):
    name: str
    version: int | None
    task: str | None
    status: str
    reason: str | None = None
    provider: str | None = None
    description: str | None = None
    metrics: dict[str, float | int] = {}
    quantization: str | None = None  # the served version's int8 method (docs/quantization.md); None: float
    graphs: list[str] = []
    default: bool = False  # the model this task's requests get when they name none
    engine: str | None = None  # how requests reach the model: batch, steps, batch+steps or direct
    activity: dict[str, int] | None = None  # live counters, e.g. active generations and characters generated


class ModelList(BaseModel):
    models: list[ModelInfo]
