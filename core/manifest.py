"""The typed schema of `models/<name>/<version>/manifest.json`, the contract between training and serving."""

from __future__ import annotations

from typing import Annotated, Any, Literal

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


class MnistDigit(BaseModel):
    """A handwritten digit, prepared as MNIST was: ink polarity detected, the ink's bounding box fitted into
    `fit_size`, placed by its centre of mass in `input_size` x `input_size`, then (x - mean) / std."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mnist-digit"]
    input_size: int = Field(28, gt=0)
    fit_size: int = Field(20, gt=0)
    mean: float
    std: float = Field(gt=0)
    ink: Literal["light-on-dark"] = "light-on-dark"  # what the model saw in training

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, self.input_size, self.input_size)


class Photo(BaseModel):
    """A colour photo: RGB (transparency onto white), bicubic squash to `resize` x `resize`, centre crop to
    `crop`, then (x/255 - mean) / std per channel; (3, crop, crop)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["photo"]
    resize: int = Field(gt=0)
    crop: int = Field(gt=0)
    mean: list[float] = Field(min_length=3, max_length=3)
    std: list[float] = Field(min_length=3, max_length=3)
    steps: str = ""  # the recipe in words, for people reading the manifest

    @property
    def shape(self) -> tuple[int, ...]:
        return (3, self.crop, self.crop)


# One recipe per kind, chosen by `kind`; core/preprocessing/recipes.py applies each.
Preprocessing = Annotated[MnistDigit | Photo, Field(discriminator="kind")]


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    version: int = Field(ge=1)
    task: str
    # "module:Class" of a runtime outside service/runtimes; default: the runtime registered for `task`.
    runtime: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    default: bool = False  # the model a request for this task gets when it names none
    description: str = ""
    graphs: dict[str, GraphSpec]
    metrics: dict[str, float | int] = {}
    preprocessing: Preprocessing | None = None
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
