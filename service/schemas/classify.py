"""POST /v1/classify request and response."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ClassifyParams(BaseModel):
    """The query of POST /v1/classify: FastAPI documents and binds it, and so does the direct route
    (service/direct.py), from this one declaration."""

    model: str | None = Field(None, description="model name; default: the task's default model")
    version: int | None = Field(None, ge=1, description="the version to use; 404 unless it is served")
    top_k: int = Field(3, ge=1, description="how many labels to return per image")


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
