"""A graph's inputs and outputs as the manifest records them, and the reference check the server and the
packager share: every dtype the v2 protocol carries, booleans and unsigned integers compared without wrapping."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, save
from onnx_models import two_inputs

from core.graph_specs import check_reference, cpu_session, graph_entry, io_spec, reference_pair
from core.manifest import Reference


def graph(path, nodes, inputs, outputs):
    model = helper.make_model(
        helper.make_graph(nodes, "g", inputs, outputs), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    save(model, str(path))
    return path


def test_io_spec_names_dtypes_and_dynamic_axes(tmp_path):
    entry = graph_entry(two_inputs(tmp_path / "two.onnx"))
    assert entry["file"] == "two.onnx" and len(entry["sha256"]) == 64
    assert entry["inputs"] == [
        {"name": "x", "dtype": "float32", "shape": [-1, 4]},
        {"name": "k", "dtype": "int64", "shape": [-1]},
    ]
    assert entry["outputs"] == [
        {"name": "scaled", "dtype": "float32", "shape": [-1, 4]},
        {"name": "total", "dtype": "float32", "shape": [-1]},
    ]


def test_a_tensor_type_no_client_can_send_is_named(tmp_path):
    info = helper.make_tensor_value_info
    path = graph(tmp_path / "s.onnx", [helper.make_node("Identity", ["s"], ["t"])],
                 [info("s", TensorProto.STRING, [-1])], [info("t", TensorProto.STRING, [-1])])  # fmt: skip
    with pytest.raises(ValueError, match=r"input 's' is tensor\(string\); a served graph's tensors are one of float32"):
        io_spec(cpu_session(path))


def test_the_reference_check_compares_booleans_and_unsigned_integers(tmp_path):
    info = helper.make_tensor_value_info
    nodes = [helper.make_node("Greater", ["x", "zero"], ["positive"]), helper.make_node("Cast", ["x"], ["u"], to=2)]
    path = tmp_path / "b.onnx"
    model = helper.make_model(
        helper.make_graph(nodes, "b", [info("x", TensorProto.FLOAT, [-1])],
                          [info("positive", TensorProto.BOOL, [-1]), info("u", TensorProto.UINT8, [-1])],
                          [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])]),
        opset_imports=[helper.make_opsetid("", 17)],
    )  # fmt: skip
    model.ir_version = 8
    save(model, str(path))
    session = cpu_session(path)
    pair = reference_pair(session, "model", {"x": np.array([0.0, 2.0, 3.0], np.float32)})
    assert pair["outputs"]["positive"] == {"dtype": "bool", "data": [False, True, True]}
    assert check_reference(session, Reference.model_validate(pair)) == 0.0
    pair["outputs"]["positive"]["data"] = [True, True, True]
    with pytest.raises(ValueError, match=r"reference output 'positive' differs by 1 \(> atol 0.0001\)"):
        check_reference(session, Reference.model_validate(pair))
    pair["outputs"]["positive"]["data"], pair["outputs"]["u"]["data"] = [False, True, True], [0, 2, 4]
    with pytest.raises(ValueError, match="reference output 'u' differs by 1 "):  # 3 - 4 would wrap to 255 in uint8
        check_reference(session, Reference.model_validate(pair))
