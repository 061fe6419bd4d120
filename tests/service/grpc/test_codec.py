"""gRPC messages <-> the v2 codec: raw and typed contents for every datatype, the checks' messages, responses,
parameters and metadata."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from service.errors import BadRequest
from service.grpc import codec
from service.schemas.v2 import ModelMetadata, TensorMetadata
from service.v2.codec import Requested, pack
from service.v2.datatypes import DATATYPES

VALUES = {  # each datatype's extremes, to catch a narrowing or a sign lost on the way
    "BOOL": [True, False, True],
    "INT8": [-128, 0, 127], "INT16": [-32768, 1, 32767], "INT32": [-(2**31), 2, 2**31 - 1],
    "INT64": [-(2**63), 3, 2**63 - 1], "UINT8": [0, 1, 255], "UINT16": [0, 2, 65535],
    "UINT32": [0, 3, 2**32 - 1], "UINT64": [0, 4, 2**64 - 1],
    "FP16": [-1.5, 0.0, 65504.0], "FP32": [-1e38, 0.5, 1e38], "FP64": [-1e308, 0.25, 1e308],
    "BYTES": [b"", b"\x00\xff", "é".encode()],
}  # fmt: skip


def array(datatype: str) -> np.ndarray:
    return np.array(VALUES[datatype], dtype=DATATYPES[datatype])


def one_input(datatype: str, raw: bool) -> pb.ModelInferRequest:
    x = array(datatype)
    request = pb.ModelInferRequest(model_name="m", id="r")
    tensor = request.inputs.add(name="x", datatype=datatype, shape=[1, 3])
    if raw:
        request.raw_input_contents.append(serialize_byte_tensor(x).item() if datatype == "BYTES" else x.tobytes())
    else:
        getattr(tensor.contents, codec.CONTENTS[datatype][0]).extend(x.tolist())
    return request


@pytest.mark.parametrize("datatype", list(VALUES))
def test_raw_contents_of_every_datatype(datatype):
    request, tensors = codec.parse_request(one_input(datatype, raw=True))
    assert request.id == "r" and tensors["x"].dtype == DATATYPES[datatype] and tensors["x"].shape == (1, 3)
    np.testing.assert_array_equal(tensors["x"].ravel(), array(datatype))


@pytest.mark.parametrize("datatype", [d for d in VALUES if d != "FP16"])
def test_typed_contents_of_every_datatype(datatype):
    _, tensors = codec.parse_request(one_input(datatype, raw=False))
    assert tensors["x"].dtype == DATATYPES[datatype]
    np.testing.assert_array_equal(tensors["x"].ravel(), array(datatype))


@pytest.mark.parametrize(
    ("datatype", "values", "message"),
    [
        ("UINT8", [256], "outside the UINT8 range [0, 255]"),
        ("INT16", [-32769], "outside the INT16 range [-32768, 32767]"),
        ("FP16", [1.0], "FP16 has no typed contents field"),
        ("BF16", [1.0], "datatype 'BF16' is not supported"),
    ],
)
def test_typed_contents_out_of_range_or_without_a_field(datatype, values, message):
    request = pb.ModelInferRequest(model_name="m")
    field = codec.CONTENTS[datatype][0] if datatype in codec.CONTENTS else "fp32_contents"
    getattr(request.inputs.add(name="x", datatype=datatype, shape=[1]).contents, field).extend(values)
    with pytest.raises(BadRequest, match=message.replace("[", r"\[").replace("]", r"\]")):
        codec.parse_request(request)


def test_parameters_of_each_kind_and_requested_outputs():
    request = one_input("FP32", raw=True)
    request.parameters["a"].bool_param = True
    request.parameters["b"].int64_param = -3
    request.parameters["c"].string_param = "s"
    request.parameters["d"].double_param = 0.5
    request.parameters["e"].uint64_param = 2**64 - 1
    request.parameters["unset"].CopyFrom(pb.InferParameter())
    request.outputs.add(name="y").parameters["binary_data"].bool_param = True
    parsed, _ = codec.parse_request(request)
    assert parsed.parameters == {"a": True, "b": -3, "c": "s", "d": 0.5, "e": 2**64 - 1, "unset": None}
    assert [(o.name, o.parameters) for o in parsed.outputs] == [("y", {"binary_data": True})]
    assert codec.parse_request(one_input("FP32", raw=True))[0].outputs is None  # none named: all


def test_responses_are_raw_and_read_back_by_tritonclient():
    floats, words = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([b"ab", b""], dtype=object)
    wanted = [Requested("f", False), Requested("w", True)]
    response = codec.encode_response("m.g", 2, "id-1", wanted, [floats, words])
    assert (response.model_name, response.model_version, response.id) == ("m.g", "2", "id-1")
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("f", "FP32", [2, 3]),
        ("w", "BYTES", [2]),
    ]
    assert response.raw_output_contents[0] == pack(floats) and not response.outputs[0].HasField("contents")
    np.testing.assert_array_equal(deserialize_bytes_tensor(response.raw_output_contents[1]), words)
    assert codec.encode_response("m", 1, None, [], []).id == ""


def test_metadata_leaves_out_the_parameters_extension():
    meta = ModelMetadata(
        name="m", versions=["1"], platform="onnxruntime_onnx", parameters={"labels": ["a"]},
        inputs=[TensorMetadata(name="x", datatype="FP32", shape=[-1, 3])],
        outputs=[TensorMetadata(name="y", datatype="INT64", shape=[-1])],
    )  # fmt: skip
    message = codec.metadata_response(meta)
    assert (message.name, list(message.versions), message.platform) == ("m", ["1"], "onnxruntime_onnx")
    assert [(t.name, t.datatype, list(t.shape)) for t in message.inputs] == [("x", "FP32", [-1, 3])]
    assert [(t.name, t.datatype, list(t.shape)) for t in message.outputs] == [("y", "INT64", [-1])]
