"""The typed schema of `models/<name>/<version>/manifest.json`, the contract between training and serving."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TensorSpec(BaseModel):
    name: str
    dtype: Literal["float32", "int64", "int32", "bool"]
    shape: list[int]  # -1 marks a dynamic axis


class GraphSpec(BaseModel):
    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.onnx$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class ReferenceTensor(BaseModel):
    dtype: str
    data: Any


class Reference(BaseModel):
    graph: str
    inputs: dict[str, ReferenceTensor]
    outputs: dict[str, ReferenceTensor]
    atol: float = 1e-4


class Batching(BaseModel):
    max_batch_size: int = Field(64, gt=0)
    max_delay_ms: float = Field(2.0, ge=0)


class Languages(BaseModel):
    source: str = Field(pattern=r"^[a-z]{2,3}$")
    target: str = Field(pattern=r"^[a-z]{2,3}$")


class TokenizerFiles(BaseModel):
    source: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.json$")
    target: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.json$")


class SpecialTokens(BaseModel):
    pad: int = 0
    bos: int
    eos: int


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    version: int = Field(ge=1)
    task: str
    description: str = ""
    graphs: dict[str, GraphSpec]
    metrics: dict[str, float | int] = {}
    preprocessing: dict[str, Any] | None = None
    labels: list[str] | None = None
    vocab: list[str] | None = None
    state: dict[str, Any] | None = None
    languages: Languages | None = None
    tokenizers: TokenizerFiles | None = None
    tokenizer: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+\.json$")  # one vocabulary (captioner)
    special_tokens: SpecialTokens | None = None
    decoding: dict[str, Any] = {}
    reference: Reference
    batching: Batching = Batching()
    training: dict[str, Any] = {}
    dataset: dict[str, Any] = {}
    code_commit: str = "unknown"
