"""gRPC inference messages <-> what the v2 codec (service/v2/codec.py) checks and produces.

A request's tensors come either all in `raw_input_contents` (one little-endian, row-major blob per input, in
the order of `inputs`; a BYTES element is a 4-byte little-endian length then its bytes, as in REST's binary
extension) or each in its input's typed `contents` (FP16 has no typed field: raw only). Outputs always go in
`raw_output_contents`, as Triton sends them; tritonclient reads either.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from tritonclient.grpc import service_pb2 as pb

from service.errors import BadRequest
from service.schemas.v2 import InferRequest, ModelMetadata, RequestInput, TensorMetadata
from service.v2 import codec
from service.v2.datatypes import from_numpy, to_numpy

# The typed field each datatype's values go in, and the dtype that field holds (narrower ints are range-checked).
CONTENTS: dict[str, tuple[str, np.dtype]] = {
    "BOOL": ("bool_contents", np.dtype(np.bool_)),
    "INT8": ("int_contents", np.dtype(np.int32)),
    "INT16": ("int_contents", np.dtype(np.int32)),
    "INT32": ("int_contents", np.dtype(np.int32)),
    "INT64": ("int64_contents", np.dtype(np.int64)),
    "UINT8": ("uint_contents", np.dtype(np.uint32)),
    "UINT16": ("uint_contents", np.dtype(np.uint32)),
    "UINT32": ("uint_contents", np.dtype(np.uint32)),
    "UINT64": ("uint64_contents", np.dtype(np.uint64)),
    "FP32": ("fp32_contents", np.dtype(np.float32)),
    "FP64": ("fp64_contents", np.dtype(np.float64)),
    "BYTES": ("bytes_contents", np.dtype(np.object_)),
}


def parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """A `map<string, InferParameter>` (or ModelRepositoryParameter) as plain values; an unset one is None."""
    out = {}
    for key, param in params.items():
        kind = param.WhichOneof("parameter_choice")
        out[key] = None if kind is None else getattr(param, kind)
    return out


def parse_request(msg: pb.ModelInferRequest) -> tuple[InferRequest, dict[str, np.ndarray]]:
    """The request as the v2 codec's `InferRequest`, and its input tensors, each checked against its declared
    shape and datatype; 400 (INVALID_ARGUMENT) saying what is wrong."""
    request = codec.validated(
        {
            "id": msg.id or None,
            "parameters": parameters(msg.parameters),
            "inputs": [
                {"name": t.name, "shape": list(t.shape), "datatype": t.datatype, "parameters": parameters(t.parameters)}
                for t in msg.inputs
            ],
            "outputs": [{"name": o.name, "parameters": parameters(o.parameters)} for o in msg.outputs] or None,
        }
    )
    raw = msg.raw_input_contents
    if raw and len(raw) != len(msg.inputs):
        raise BadRequest(
            f"raw_input_contents holds {len(raw)} tensors for {len(msg.inputs)} inputs; send one per input, "
            "in the order of inputs"
        )
    tensors: dict[str, np.ndarray] = {}
    for i, (tensor, given) in enumerate(zip(request.inputs, msg.inputs, strict=True)):
        codec.check_declared(tensor, tensors)
        if raw:
            if given.HasField("contents"):
                raise BadRequest(f"input {tensor.name!r} has contents while raw_input_contents is used; use one")
            tensors[tensor.name] = codec.decode_binary(tensor, raw[i], f"the length of raw_input_contents[{i}]")
        elif given.HasField("contents"):
            tensors[tensor.name] = decode_contents(tensor, given.contents)
        else:
            raise BadRequest(f"input {tensor.name!r} has no data: set its contents, or send raw_input_contents")
    return request, tensors


def decode_contents(tensor: RequestInput, contents: pb.InferTensorContents) -> np.ndarray:
    """Typed contents -> an array of the declared datatype and shape."""
    dtype, where = to_numpy(tensor.datatype), f"input {tensor.name!r}"
    if tensor.datatype not in CONTENTS:
        raise BadRequest(f"{where}: {tensor.datatype} has no typed contents field; send it in raw_input_contents")
    field, wide = CONTENTS[tensor.datatype]
    others = [f.name for f, _ in contents.ListFields() if f.name != field]
    if others:
        raise BadRequest(f"{where} is {tensor.datatype}, whose values go in contents.{field}, not {', '.join(others)}")
    values, count = getattr(contents, field), math.prod(tensor.shape)
    if len(values) != count:
        raise BadRequest(f"{where}: shape {tensor.shape} holds {count} values but contents.{field} has {len(values)}")
    if dtype.kind == "O":
        return np.array(list(values), dtype=object).reshape(tensor.shape)
    array = np.fromiter(values, dtype=wide, count=count)
    if dtype.itemsize < wide.itemsize and array.size:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise BadRequest(f"{where}: a value is outside the {tensor.datatype} range [{info.min}, {info.max}]")
    return array.astype(dtype).reshape(tensor.shape)


def encode_response(
    model: str, version: int, request_id: str | None, requested: list[codec.Requested], arrays: list[np.ndarray]
) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=model, model_version=str(version), id=request_id or "")
    for want, array in zip(requested, arrays, strict=True):
        response.outputs.add(name=want.name, datatype=from_numpy(array.dtype), shape=list(array.shape))
        response.raw_output_contents.append(codec.pack(array))
    return response


def metadata_response(meta: ModelMetadata) -> pb.ModelMetadataResponse:
    """REST's metadata less its `parameters` extension (the preprocessing recipe), which the message cannot hold."""

    def tensors(specs: list[TensorMetadata]) -> list[pb.ModelMetadataResponse.TensorMetadata]:
        return [pb.ModelMetadataResponse.TensorMetadata(name=t.name, datatype=t.datatype, shape=t.shape) for t in specs]

    return pb.ModelMetadataResponse(
        name=meta.name,
        versions=meta.versions,
        platform=meta.platform,
        inputs=tensors(meta.inputs),
        outputs=tensors(meta.outputs),
    )
