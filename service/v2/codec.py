"""Inference requests and responses on the wire: JSON tensors, and Triton's binary tensor data extension.

A request is a JSON object, optionally followed by raw tensor bytes: then the `Inference-Header-Content-Length`
header gives the JSON part's length and each binary input says its `binary_data_size`. Binary data is
little-endian and row-major; a BYTES element is a 4-byte little-endian length followed by its bytes.
Responses are JSON, or JSON followed by raw bytes for the outputs asked for with `binary_data`.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np
import orjson
from pydantic import ValidationError

from core.errors import first_problem
from core.manifest import GraphSpec
from service.errors import BadRequest
from service.schemas.v2 import InferRequest, InferResponse, RequestInput, ResponseOutput
from service.v2.datatypes import from_numpy, to_numpy

HEADER_LENGTH = "inference-header-content-length"
UNSUPPORTED_PARAMETERS = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")


@dataclass(frozen=True)
class Requested:
    name: str
    binary: bool


@dataclass(frozen=True)
class Encoded:
    body: bytes
    header_length: int | None  # set when binary tensor data follows the JSON


def _reject_constant(name: str) -> float:
    raise BadRequest(f"{name} is not a number JSON allows; send finite numbers")


def parse_request(body: bytes, header_length: str | None) -> tuple[InferRequest, dict[str, np.ndarray]]:
    """The request and its input tensors, each checked against its declared shape and datatype."""
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise BadRequest(
                f"Inference-Header-Content-Length is {header_length!r}; send the JSON part's length "
                f"(0..{len(body)} bytes)"
            )
        body, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        doc = orjson.loads(body)  # several times faster than json on a tensor's thousands of numbers
    except orjson.JSONDecodeError:
        # Parsed again for the refusal: json names what is wrong (NaN, the position) in its own words.
        try:
            doc = json.loads(body, parse_constant=_reject_constant)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BadRequest(f"request body is not valid JSON: {e}") from None
    request = validated(doc)
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in request.inputs:
        check_declared(tensor, tensors)
        size = tensor.parameters.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary):
                raise BadRequest(
                    f"input {tensor.name!r}: binary_data_size {size!r} does not fit the {len(binary) - offset} "
                    "bytes of binary data left after the JSON header"
                )
            tensors[tensor.name] = decode_binary(tensor, binary[offset : offset + size])
            offset += size
        elif tensor.data is None:
            raise BadRequest(f"input {tensor.name!r} has no data (and no parameters.binary_data_size)")
        else:
            tensors[tensor.name] = decode_json(tensor)
    if offset != len(binary):
        raise BadRequest(f"{len(binary)} bytes follow the JSON header but the inputs declare {offset}")
    return request, tensors


def validated(doc: object) -> InferRequest:
    """An inference request (REST's JSON, or gRPC's message as a dict), or a 400 naming the first problem."""
    try:
        return InferRequest.model_validate(doc)
    except ValidationError as e:
        raise BadRequest(f"invalid inference request: {first_problem(e, 'request')}") from None


def check_declared(tensor: RequestInput, seen: dict[str, np.ndarray]) -> None:
    """An input given once, asking for no shared memory."""
    if tensor.name in seen:
        raise BadRequest(f"input {tensor.name!r} is given twice")
    for key in UNSUPPORTED_PARAMETERS:
        if key in tensor.parameters:
            raise BadRequest(f"input {tensor.name!r}: {key}: shared memory is not supported; send the data")


def _count(tensor: RequestInput) -> int:
    return math.prod(tensor.shape)


def decode_json(tensor: RequestInput) -> np.ndarray:
    """JSON `data` (flat or nested, row-major) -> an array of the declared datatype and shape."""
    dtype = to_numpy(tensor.datatype)
    where = f"input {tensor.name!r}"
    data = tensor.data if isinstance(tensor.data, list) else [tensor.data]
    try:
        values = np.asarray(data, dtype=object if dtype.kind == "O" else None)
    except (ValueError, OverflowError):
        raise BadRequest(f"{where}: data must be a flat or evenly nested list of values") from None
    values = values.reshape(-1)
    if values.size != _count(tensor):
        raise BadRequest(f"{where}: shape {tensor.shape} holds {_count(tensor)} values but data has {values.size}")
    if values.size == 0:
        return np.zeros(tensor.shape, dtype)
    if dtype.kind == "O":  # BYTES: JSON strings
        if not all(isinstance(v, str) for v in values):
            raise BadRequest(f"{where}: BYTES data must be strings")
        return np.array([v.encode() for v in values], dtype=object).reshape(tensor.shape)
    kind = values.dtype.kind
    if dtype.kind == "b":
        if kind != "b":
            raise BadRequest(f"{where}: BOOL data must be true or false")
    elif dtype.kind in "iu":
        if kind not in "iu":
            # NumPy turns integers with no common type (2**64 - 1 beside 0) into floats: look at the originals.
            exact = np.asarray(data, dtype=object).reshape(-1)
            if not all(type(v) is int for v in exact):
                raise BadRequest(f"{where}: {tensor.datatype} data must be integers, not {_kind_name(kind)}")
            values = exact
        info = np.iinfo(dtype)
        if values.min() < info.min or values.max() > info.max:
            raise BadRequest(f"{where}: a value is outside the {tensor.datatype} range [{info.min}, {info.max}]")
    elif kind not in "iuf":
        raise BadRequest(f"{where}: {tensor.datatype} data must be numbers, not {_kind_name(kind)}")
    with np.errstate(over="ignore"):
        out = values.astype(dtype)
    if dtype.kind == "f" and not np.isfinite(out).all():
        raise BadRequest(f"{where}: a value is outside the {tensor.datatype} range")
    return out.reshape(tensor.shape)


def _kind_name(kind: str) -> str:
    return {"b": "booleans", "f": "floats", "U": "strings", "O": "mixed values"}.get(kind, "other values")


def decode_binary(tensor: RequestInput, raw: bytes, size_name: str = "binary_data_size") -> np.ndarray:
    """Raw little-endian bytes -> an array of the declared datatype and shape (`size_name`: where the length
    came from, for the message)."""
    dtype = to_numpy(tensor.datatype)
    count = _count(tensor)
    if dtype.kind == "O":
        items = unpack_bytes(raw, f"input {tensor.name!r}")
        if len(items) != count:
            raise BadRequest(f"input {tensor.name!r}: shape {tensor.shape} holds {count} values but got {len(items)}")
        return np.array(items, dtype=object).reshape(tensor.shape)
    if len(raw) != count * dtype.itemsize:
        raise BadRequest(
            f"input {tensor.name!r}: shape {tensor.shape} of {tensor.datatype} takes {count * dtype.itemsize} bytes "
            f"but {size_name} is {len(raw)}"
        )
    return np.frombuffer(raw, dtype.newbyteorder("<")).astype(dtype).reshape(tensor.shape)


def unpack_bytes(raw: bytes, where: str) -> list[bytes]:
    items, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise BadRequest(f"{where}: truncated BYTES element length")
        (n,) = struct.unpack_from("<I", raw, offset)
        if offset + 4 + n > len(raw):
            raise BadRequest(f"{where}: a BYTES element of {n} bytes runs past the data")
        items.append(raw[offset + 4 : offset + 4 + n])
        offset += 4 + n
    return items


def pack(array: np.ndarray) -> bytes:
    """An array as the binary extension carries it."""
    if array.dtype.kind in "OSU":
        items = [x if isinstance(x, bytes) else str(x).encode() for x in array.reshape(-1)]
        return b"".join(struct.pack("<I", len(x)) + x for x in items)
    return np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()


def check_inputs(tensors: dict[str, np.ndarray], request: InferRequest, graph: GraphSpec, model: str) -> None:
    """Every input the graph takes, with its datatype, rank and fixed sizes; nothing else."""
    expected = {spec.name: spec for spec in graph.inputs}
    for name in tensors:
        if name not in expected:
            raise BadRequest(f"model {model!r} has no input {name!r}; its inputs: {list(expected)}")
    for spec in graph.inputs:
        if spec.name not in tensors:
            raise BadRequest(f"input {spec.name!r} is missing; model {model!r} takes inputs {list(expected)}")
    for tensor in request.inputs:
        spec = expected[tensor.name]
        want = from_numpy(spec.dtype)
        if tensor.datatype != want:
            raise BadRequest(f"input {tensor.name!r} is {tensor.datatype}; model {model!r} takes {want}")
        fits = len(tensor.shape) == len(spec.shape) and all(
            d == -1 or d == n for d, n in zip(spec.shape, tensor.shape, strict=True)
        )
        if not fits:
            raise BadRequest(
                f"input {tensor.name!r} has shape {tensor.shape}; model {model!r} takes {spec.shape} (-1: any size)"
            )
        if 0 in tensor.shape:
            # Some kernels (the GRU encoder's) abort the whole process on an empty tensor: never run one.
            raise BadRequest(
                f"input {tensor.name!r} has shape {tensor.shape}, with no elements; every size must be >= 1"
            )


def requested_outputs(request: InferRequest, graph: GraphSpec, model: str) -> list[Requested]:
    """The outputs to return (all when none are named), each as JSON or binary data."""
    names = [spec.name for spec in graph.outputs]
    default_binary = bool(request.parameters.get("binary_data_output", False))
    if request.outputs is None:
        return [Requested(name, default_binary) for name in names]
    out = []
    for o in request.outputs:
        if o.name not in names:
            raise BadRequest(f"model {model!r} has no output {o.name!r}; its outputs: {names}")
        if "classification" in o.parameters:
            raise BadRequest(f"output {o.name!r}: the classification extension is not supported")
        for key in UNSUPPORTED_PARAMETERS:
            if key in o.parameters:
                raise BadRequest(f"output {o.name!r}: {key}: shared memory is not supported")
        out.append(Requested(o.name, bool(o.parameters.get("binary_data", default_binary))))
    return out


def encode_response(
    model: str, version: int, request_id: str | None, requested: list[Requested], arrays: list[np.ndarray]
) -> Encoded:
    outputs, blobs = [], []
    finite = [want.binary or array.dtype.kind not in "fc" or bool(np.isfinite(array).all())
              for want, array in zip(requested, arrays, strict=True)]  # fmt: skip
    for want, array in zip(requested, arrays, strict=True):
        out = ResponseOutput(name=want.name, shape=list(array.shape), datatype=from_numpy(array.dtype))
        if want.binary:
            blob = pack(array)
            out.parameters = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif array.dtype.kind in "OSU":
            out.data = [x.decode(errors="replace") if isinstance(x, bytes) else str(x) for x in array.reshape(-1)]
        else:
            out.data = array.reshape(-1).tolist()
        outputs.append(out)
    response = InferResponse(model_name=model, model_version=str(version), id=request_id, outputs=outputs)
    doc = response.model_dump(exclude_none=True)
    # A model may output -inf (masked log-probabilities), which JSON cannot spell and orjson writes as null;
    # Python and rapidjson (tritonclient) read the `-Infinity` that json.dumps writes.
    header = orjson.dumps(doc) if all(finite) else json.dumps(doc, separators=(",", ":")).encode()
    if not blobs:
        return Encoded(header, None)
    return Encoded(header + b"".join(blobs), len(header))
