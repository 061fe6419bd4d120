"""POST /v1/generate request and response."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field


class GenerateRequest(BaseModel):
    model: str | None = Field(None, description="model name; default: the first generate model")
    version: int | None = Field(None, ge=1, description="the model version to use; 404 unless it is served")
    prompt: str = Field(min_length=1, max_length=4000, description="text to continue (1..4000 characters)")
    max_tokens: int = Field(200, ge=1, le=2000, description="characters to generate")
    temperature: float = Field(0.8, gt=0, le=5, allow_inf_nan=False, description="sampling temperature, in (0, 5]")
    top_k: int | None = Field(40, ge=1, le=1000, description="keep the k most likely characters; null: all")
    top_p: float | None = Field(
        None, gt=0, le=1, allow_inf_nan=False, description="nucleus sampling mass, in (0, 1]; null: off"
    )
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="same seed and parameters: same text")
    stop: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=4, description="stop before any of these (up to 4, 1..64 characters)"
    )
    stream: bool = Field(False, description="stream the text as server-sent events")

    model_config = {
        "json_schema_extra": {
            "examples": [{"prompt": "ROMEO:", "max_tokens": 200, "temperature": 0.8, "top_k": 40, "seed": 7}]
        }
    }


class GenerateResponse(BaseModel):
    model: str
    version: int
    text: str
    tokens: int = Field(description="characters sampled, a matched stop sequence included")
    finish_reason: Literal["length", "stop"]
    seed: int = Field(description="the seed used (the one sent, or the one drawn); resend it to repeat the text")
