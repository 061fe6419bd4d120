"""Open Inference Protocol (KServe v2) REST schemas: health, metadata, inference, repository."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Dim = Annotated[int, Field(ge=-1)]  # -1: dynamic (metadata only; requests send real sizes)


class V2Error(BaseModel):
    error: str


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[Dim]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    # An extension field (the protocol allows them): what to send, for graphs that take prepared images.
    parameters: dict[str, Any] | None = Field(
        None, description="the preprocessing recipe that turns an image into this graph's input, and its labels"
    )


class RequestInput(BaseModel):
    name: str
    shape: list[Annotated[int, Field(ge=0)]]
    datatype: str
    parameters: dict[str, Any] = {}
    data: Any = Field(None, description="row-major, flat or nested; absent when the binary extension carries it")


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] = {}


class InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] = {}
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = Field(None, description="which outputs to return; absent: all")


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class InferResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


class RepositoryModel(BaseModel):
    name: str
    version: str
    state: str = Field(description="READY, LOADING or UNAVAILABLE")
    reason: str


class RepositoryRequest(BaseModel):
    parameters: dict[str, Any] = Field(
        {}, description='load: {"version": "2"} loads that version instead of the newest'
    )
