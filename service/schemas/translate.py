"""POST /v1/translate request and response."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

Text = Annotated[str, Field(max_length=1000, description="1..1000 characters, not only whitespace")]


class TranslateRequest(BaseModel):
    text: Text | None = Field(None, description="one text (split into sentences); or use `texts`")
    texts: list[Text] | None = Field(
        None, min_length=1, max_length=64, description="up to 64 texts, of up to 64 sentences in all"
    )
    source: str = Field("en", description="source language")
    target: str = Field("fr", description="target language")
    model: str | None = Field(None, description="model name; default: the model for source -> target")
    version: int | None = Field(None, ge=1, description="the model version to use; 404 unless it is served")
    beam_size: int | None = Field(None, ge=1, le=10, description="1 (greedy) .. 10; default from the model (5)")
    max_length: int | None = Field(
        None, ge=1, le=200, description="max target tokens per sentence; default 2 * source + 10"
    )
    return_attention: bool = Field(False, description="include the target x source attention matrix")

    @model_validator(mode="after")
    def one_of_text_or_texts(self) -> TranslateRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("send exactly one of `text` (a string) or `texts` (a list of up to 64 strings)")
        for i, t in enumerate(self.all_texts()):
            if not t.strip():
                raise ValueError(f"texts[{i}] is empty or whitespace; send 1..1000 characters of text")
        return self

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class Attention(BaseModel):
    source_tokens: list[str]
    target_tokens: list[str]
    weights: list[list[float]] = Field(description="one row per target token, one column per source token")


class TranslationOut(BaseModel):
    text: str
    score: float = Field(description="length-normalised log-probability of the translation")
    tokens: list[str] | None = None
    attention: Attention | None = None


class TranslateResponse(BaseModel):
    model: str
    version: int
    translations: list[TranslationOut]
