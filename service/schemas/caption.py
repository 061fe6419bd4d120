"""POST /v1/caption response."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CaptionAlternative(BaseModel):
    caption: str
    score: float = Field(description="length-normalised log-probability")


class CaptionAttention(BaseModel):
    words: list[str]
    grid: list[int] = Field(description="[rows, columns] of the image regions the weights refer to")
    weights: list[list[float]] = Field(description="one row per word, one column per region (row-major grid)")


class CaptionResult(BaseModel):
    name: str = Field(description="the uploaded file name, or images[i] for JSON input")
    caption: str
    score: float = Field(description="length-normalised log-probability")
    alternatives: list[CaptionAlternative] = Field(description="the next-best beam hypotheses, best first")
    attention: CaptionAttention | None = None


class CaptionResponse(BaseModel):
    model: str
    version: int
    results: list[CaptionResult]
