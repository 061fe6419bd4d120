"""The v2 wire format: JSON tensors flat or nested, the binary extension, datatype and shape checks, responses."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from core.manifest import GraphSpec, TensorSpec
from service.errors import BadRequest
from service.schemas.v2 import InferRequest
from service.v2 import codec
from service.v2.datatypes import DATATYPES, from_numpy, to_numpy

GRAPH = GraphSpec(
    file="m.onnx",
    sha256="0" * 64,
    inputs=[
        TensorSpec(name="image", dtype="float32", shape=[-1, 1, 2, 2]),
        TensorSpec(name="n", dtype="int64", shape=[-1]),
    ],
    outputs=[
        TensorSpec(name="logits", dtype="float32", shape=[-1, 3]),
        TensorSpec(name="ids", dtype="int64", shape=[-1]),
    ],
)


def tensor(name: str, shape: list[int], datatype: str, data) -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def parse(doc: dict, binary: bytes = b"") -> tuple[InferRequest, dict[str, np.ndarray]]:
    header = json.dumps(doc).encode()
    return codec.parse_request(header + binary, str(len(header)) if binary else None)


def test_datatypes_map_both_ways():
    assert to_numpy("FP32") == np.float32 and to_numpy("INT64") == np.int64 and to_numpy("BOOL") == np.bool_
    assert [from_numpy(to_numpy(name)) for name in DATATYPES] == list(DATATYPES)
    assert from_numpy("float32") == "FP32" and from_numpy("int32") == "INT32" and from_numpy(np.dtype("<U3")) == "BYTES"
    with pytest.raises(BadRequest, match="datatype 'BF16' is not supported; supported: BOOL, UINT8"):
        to_numpy("BF16")


def test_flat_and_nested_data_give_the_same_tensor():
    values = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2) / 4
    _, flat = parse({"inputs": [tensor("image", [2, 1, 2, 2], "FP32", values.reshape(-1).tolist())]})
    _, nested = parse({"inputs": [tensor("image", [2, 1, 2, 2], "FP32", values.tolist())]})
    assert flat["image"].dtype == np.float32 and flat["image"].shape == (2, 1, 2, 2)
    np.testing.assert_array_equal(flat["image"], values)
    np.testing.assert_array_equal(nested["image"], values)


@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [
        ("INT64", [1, -2, 3], np.array([1, -2, 3], np.int64)),
        ("INT8", [127, -128, 0], np.array([127, -128, 0], np.int8)),
        ("UINT64", [2**64 - 1, 0, 1], np.array([2**64 - 1, 0, 1], np.uint64)),
        ("BOOL", [True, False, True], np.array([True, False, True])),
        ("FP16", [0.5, 1, -2], np.array([0.5, 1, -2], np.float16)),
        ("FP64", [0.1, 2, 3], np.array([0.1, 2, 3], np.float64)),
        ("BYTES", ["a", "é", ""], np.array([b"a", "é".encode(), b""], dtype=object)),
    ],
)
def test_every_datatype_from_json(datatype, data, expected):
    _, tensors = parse({"inputs": [tensor("x", [3], datatype, data)]})
    assert tensors["x"].dtype == expected.dtype
    assert tensors["x"].tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("t", "message"),
    [
        (tensor("x", [2, 2], "FP32", [1, 2, 3]), "shape [2, 2] holds 4 values but data has 3"),
        (tensor("x", [2], "FP32", [[1, 2], [3]]), "flat or evenly nested list"),
        (tensor("x", [2], "INT64", [1, 2.5]), "INT64 data must be integers, not floats"),
        (tensor("x", [2], "INT64", [True, False]), "INT64 data must be integers, not booleans"),
        (tensor("x", [1], "INT8", [300]), "outside the INT8 range [-128, 127]"),
        (tensor("x", [1], "UINT8", [-1]), "outside the UINT8 range [0, 255]"),
        (tensor("x", [1], "FP16", [1e6]), "outside the FP16 range"),
        (tensor("x", [2], "FP32", ["a", "b"]), "FP32 data must be numbers, not strings"),
        (tensor("x", [1], "BOOL", [1]), "BOOL data must be true or false"),
        (tensor("x", [1], "BYTES", [3]), "BYTES data must be strings"),
        (tensor("x", [1], "FP8", [1]), "datatype 'FP8' is not supported"),
        ({"name": "x", "shape": [1], "datatype": "FP32"}, "input 'x' has no data"),
        (tensor("x", [-1], "FP32", []), "inputs.0.shape.0: Input should be greater than or equal to 0"),
    ],
)
def test_bad_tensors_are_refused_with_the_reason(t, message):
    with pytest.raises(BadRequest, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse({"inputs": [t]})


def test_request_level_errors():
    with pytest.raises(BadRequest, match="not valid JSON"):
        codec.parse_request(b"{oops", None)
    with pytest.raises(BadRequest, match="NaN is not a number JSON allows"):
        codec.parse_request(b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [NaN]}]}', None)
    with pytest.raises(BadRequest, match="inputs: List should have at least 1 item"):
        parse({"inputs": []})
    with pytest.raises(BadRequest, match="input 'x' is given twice"):
        parse({"inputs": [tensor("x", [1], "FP32", [1]), tensor("x", [1], "FP32", [2])]})
    with pytest.raises(BadRequest, match="shared memory is not supported"):
        parse(
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"shared_memory_region": "r"}}]}
        )
    with pytest.raises(BadRequest, match="Inference-Header-Content-Length is '99'"):
        codec.parse_request(b"{}", "99")


def test_binary_inputs_after_the_json_header():
    image = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    n = np.array([7, 9], np.int64)
    words = [b"ab", b"", "ç".encode()]
    packed_words = b"".join(struct.pack("<I", len(w)) + w for w in words)
    doc = {
        "inputs": [
            {"name": "image", "shape": [2, 1, 2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 32}},
            tensor("n", [2], "INT64", [7, 9]),
            {"name": "w", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": len(packed_words)}},
        ]
    }
    _, tensors = parse(doc, image.tobytes() + packed_words)
    np.testing.assert_array_equal(tensors["image"], image)
    np.testing.assert_array_equal(tensors["n"], n)
    assert tensors["w"].tolist() == words
    bad = {
        "inputs": [{"name": "image", "shape": [2, 1, 2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]
    }
    with pytest.raises(BadRequest, match=r"takes 32 bytes but binary_data_size is 16"):
        parse(bad, image.tobytes()[:16])
    with pytest.raises(BadRequest, match="16 bytes follow the JSON header but the inputs declare 0"):
        parse({"inputs": [tensor("n", [2], "INT64", [7, 9])]}, b"x" * 16)
    with pytest.raises(BadRequest, match="does not fit the 8 bytes"):
        parse(bad, b"x" * 8)


def test_inputs_are_checked_against_the_graph():
    good = [tensor("image", [1, 1, 2, 2], "FP32", [0, 0, 0, 0]), tensor("n", [1], "INT64", [1])]
    request, tensors = parse({"inputs": good})
    codec.check_inputs(tensors, request, GRAPH, "m")
    cases = [
        ([good[0]], "input 'n' is missing; model 'm' takes inputs ['image', 'n']"),
        ([*good, tensor("z", [1], "FP32", [1])], "model 'm' has no input 'z'; its inputs: ['image', 'n']"),
        ([good[0], tensor("n", [1], "INT32", [1])], "input 'n' is INT32; model 'm' takes INT64"),
        (
            [tensor("image", [1, 4], "FP32", [0] * 4), good[1]],
            "input 'image' has shape [1, 4]; model 'm' takes [-1, 1, 2, 2]",
        ),
        ([tensor("image", [1, 2, 2, 2], "FP32", [0] * 8), good[1]], "has shape [1, 2, 2, 2]"),
        # An empty batch or sequence aborted the server inside onnxruntime's GRU (found fuzzing v2 infer).
        ([tensor("image", [0, 1, 2, 2], "FP32", []), tensor("n", [0], "INT64", [])], "with no elements"),
        (
            [good[0], tensor("n", [0], "INT64", [])],
            "input 'n' has shape [0], with no elements; every size must be >= 1",
        ),
    ]
    for inputs, message in cases:
        request, tensors = parse({"inputs": inputs})
        with pytest.raises(BadRequest) as err:
            codec.check_inputs(tensors, request, GRAPH, "m")
        assert message in err.value.message


def test_output_selection_and_binary_flags():
    base = {"inputs": [tensor("n", [1], "INT64", [1])]}
    every = codec.requested_outputs(InferRequest.model_validate(base), GRAPH, "m")
    assert every == [codec.Requested("logits", False), codec.Requested("ids", False)]
    doc = {
        **base,
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "ids"}, {"name": "logits", "parameters": {"binary_data": False}}],
    }
    assert codec.requested_outputs(InferRequest.model_validate(doc), GRAPH, "m") == [
        codec.Requested("ids", True),
        codec.Requested("logits", False),
    ]
    with pytest.raises(BadRequest, match=r"model 'm' has no output 'prob'; its outputs: \['logits', 'ids'\]"):
        codec.requested_outputs(InferRequest.model_validate({**base, "outputs": [{"name": "prob"}]}), GRAPH, "m")
    with pytest.raises(BadRequest, match="classification extension is not supported"):
        doc = {**base, "outputs": [{"name": "ids", "parameters": {"classification": 2}}]}
        codec.requested_outputs(InferRequest.model_validate(doc), GRAPH, "m")


def test_responses_in_json_and_binary():
    logits = np.array([[0.5, -np.inf, 2.0]], np.float32)
    ids = np.array([3], np.int64)
    json_only = codec.encode_response(
        "m", 2, "r1", [codec.Requested("logits", False), codec.Requested("ids", False)], [logits, ids]
    )
    assert json_only.header_length is None
    body = json.loads(json_only.body)
    assert body == {
        "model_name": "m",
        "model_version": "2",
        "id": "r1",
        "outputs": [
            {"name": "logits", "shape": [1, 3], "datatype": "FP32", "data": [0.5, float("-inf"), 2.0]},
            {"name": "ids", "shape": [1], "datatype": "INT64", "data": [3]},
        ],
    }
    mixed = codec.encode_response(
        "m", 2, None, [codec.Requested("logits", True), codec.Requested("ids", False)], [logits, ids]
    )
    header = json.loads(mixed.body[: mixed.header_length])
    assert "id" not in header
    assert header["outputs"][0] == {
        "name": "logits",
        "shape": [1, 3],
        "datatype": "FP32",
        "parameters": {"binary_data_size": 12},
    }
    np.testing.assert_array_equal(np.frombuffer(mixed.body[mixed.header_length :], "<f4").reshape(1, 3), logits)
