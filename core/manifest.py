"""The typed schema of `models/<name>/<version>/manifest.json`, the contract between training and serving."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DType = Literal[
    "float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"
]


class TensorSpec(BaseModel):
    name: str
    dtype: DType  # core/graph_specs.py maps onnxruntime's types to these
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


class ImageRecipe(BaseModel):
    """Any image for any classifier, torchvision-style: decoded (EXIF orientation honoured), converted to
    `channels` (transparency onto white), resized (`resize`: squash to [W, H]; or `resize_shorter`: the
    shorter side to N, aspect kept), centre-cropped to `crop` [W, H], then x * scale, (x - mean) / std per
    channel, laid out as `layout`. One row is (C, H, W) for nchw, (H, W, C) for nhwc."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["image"]
    channels: Literal["rgb", "bgr", "gray"] = "rgb"
    resize: tuple[int, int] | None = None  # [width, height]: squash, aspect ratio not kept
    resize_shorter: int | None = Field(None, gt=0)  # the shorter side to N; needs a crop for a fixed size
    crop: tuple[int, int] | None = None  # [width, height], centred
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"
    scale: float = Field(1 / 255, gt=0)
    mean: list[float] = [0.0]
    std: list[float] = [1.0]
    layout: Literal["nchw", "nhwc"] = "nchw"

    @model_validator(mode="after")
    def _fixed_size(self) -> ImageRecipe:
        if (self.resize is None) == (self.resize_shorter is None):
            raise ValueError("give exactly one of resize ([width, height]) and resize_shorter (N)")
        for name, size in (("resize", self.resize), ("crop", self.crop)):
            if size is not None and min(size) < 1:
                raise ValueError(f"{name} must be positive; got {list(size)}")
        if self.resize_shorter is not None and self.crop is None:
            raise ValueError("resize_shorter keeps the aspect ratio, so it needs a crop to give a fixed size")
        if self.crop is not None:
            box = self.resize or (self.resize_shorter, self.resize_shorter)
            if self.crop[0] > box[0] or self.crop[1] > box[1]:
                raise ValueError(f"crop {list(self.crop)} is larger than the resized image {list(box)}")
        n = 1 if self.channels == "gray" else 3
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, n):
                raise ValueError(f"{name} has {len(values)} values; {self.channels} images have {n} channels")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive; got {self.std}")
        return self

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the model's input."""
        return self.crop or self.resize  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, ...]:
        (w, h), c = self.size, 1 if self.channels == "gray" else 3
        return (c, h, w) if self.layout == "nchw" else (h, w, c)


# One recipe per kind, chosen by `kind`; core/preprocessing/recipes.py applies each.
Preprocessing = Annotated[MnistDigit | Photo | ImageRecipe, Field(discriminator="kind")]


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    version: int = Field(ge=1)
    task: str
    # "module:Class" of a runtime outside service/runtimes; default: the runtime registered for `task`.
    runtime: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    default: bool = False  # the model a request for this task gets when it names none
    # A version served only when a load names it (an int8 copy that missed its goal): startup serves the newest
    # version without it (core/model_folders.py served_versions).
    opt_in: bool = False
    quantization: dict[str, Any] | None = None  # how an int8 version was made and measured (training/quantize.py)
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
