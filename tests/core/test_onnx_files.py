"""An ONNX file is recognised from its protobuf bytes (no `onnx` package in the service install); anything else
is not, and a graph whose weights live in other files is named as such."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx_models import image_classifier, two_inputs
from tests_support import png

from core.onnx_files import NotOnnx, check_model_file


def test_onnx_files_pass(tmp_path):
    check_model_file(two_inputs(tmp_path / "two.onnx"))
    check_model_file(image_classifier(tmp_path / "cnn.onnx"))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"cat\ndog\n",
        b'{"inputs": []}',
        png(np.zeros((4, 4, 3), np.uint8)),
        b"\x08\x08",  # a valid protobuf message (ir_version 8) with no graph
    ],
    ids=["empty", "text", "json", "png", "no-graph"],
)
def test_other_files_are_not_onnx(tmp_path, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(NotOnnx):
        check_model_file(path)


def test_a_truncated_file_is_not_onnx(tmp_path):
    data = image_classifier(tmp_path / "cnn.onnx").read_bytes()
    (tmp_path / "half.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(NotOnnx, match="runs past the end"):
        check_model_file(tmp_path / "half.onnx")


def test_weights_in_external_files_are_named(tmp_path):
    model = onnx.load(str(image_classifier(tmp_path / "cnn.onnx")))
    for tensor in model.graph.initializer:  # raw bytes: what onnx moves to external files
        tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name))
    onnx.save(model, str(tmp_path / "split.onnx"), save_as_external_data=True, location="split.data", size_threshold=0)
    with pytest.raises(ValueError, match="its weights are kept in external data files") as err:
        check_model_file(tmp_path / "split.onnx")
    assert not isinstance(err.value, NotOnnx) and (tmp_path / "split.data").is_file()
