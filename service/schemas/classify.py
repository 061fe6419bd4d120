"""POST /v1/classify request and response."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ClassifyJSONRequest(BaseModel):
    images: list[str] = Field(
        min_length=1, description="base64-encoded image files (PNG, JPEG, ...), optionally as data: URLs"
    )


class Prediction(BaseModel):
    label: str
    index: int
    probability: float


class ClassifyResult(BaseModel):
    name: str = Field(description="the uploaded file name, or images[i] for JSON input")
    predictions: list[Prediction]


class ClassifyResponse(BaseModel):
    model: str
    version: int
    results: list[ClassifyResult]
