"""Is a file an ONNX model, and is it self-contained? Read from the protobuf wire format itself, since the service
install has no `onnx` package: a ModelProto is a protobuf message with an `ir_version` (field 1) and a `graph`
(field 7), and a graph's initializers (GraphProto field 5) say when their weights live in other files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

IR_VERSION, GRAPH = 1, 7  # ModelProto fields
INITIALIZER = 5  # GraphProto
EXTERNAL_DATA, DATA_LOCATION = 13, 14  # TensorProto; data_location 1 is EXTERNAL
VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class NotOnnx(ValueError):
    """The bytes are not a protobuf ModelProto."""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise NotOnnx("its bytes are not a protobuf message (a varint runs past the end)")
        byte = buf[pos]
        value, pos, shift = value | (byte & 0x7F) << shift, pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of each field of one protobuf message; NotOnnx when it is not one."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if number == 0:
            raise NotOnnx(f"its bytes are not a protobuf message (field number 0 at byte {pos})")
        if wire == VARINT:
            value, pos = _varint(buf, pos)
        elif wire in (FIXED64, FIXED32, BYTES):
            if wire == BYTES:
                size, pos = _varint(buf, pos)
            else:
                size = 8 if wire == FIXED64 else 4
            if pos + size > len(buf):
                raise NotOnnx(f"its bytes are not a protobuf message (field {number} runs past the end)")
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise NotOnnx(f"its bytes are not an ONNX message (field {number} has wire type {wire})")
        yield number, wire, value


def check_model_file(path: Path) -> None:
    """NotOnnx when `path` is not an ONNX model; ValueError when its weights are kept in separate files."""
    data = memoryview(path.read_bytes())
    top = list(fields(data))
    graphs = [v for n, w, v in top if n == GRAPH and w == BYTES]
    if not graphs or not any(n == IR_VERSION and w == VARINT for n, w, _ in top):
        raise NotOnnx("it has no ir_version and graph, as every ONNX model has")
    for number, wire, tensor in fields(graphs[0]):  # type: ignore[arg-type]
        if number != INITIALIZER or wire != BYTES:
            continue
        for n, w, v in fields(tensor):  # type: ignore[arg-type]
            if n == EXTERNAL_DATA or (n == DATA_LOCATION and w == VARINT and v == 1):
                raise ValueError(
                    "its weights are kept in external data files; package a self-contained graph: "
                    "onnx.save(onnx.load(path), out_path, save_as_external_data=False)"
                )
