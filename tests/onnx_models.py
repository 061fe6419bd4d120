"""Small ONNX graphs written with onnx.helper for the packaging tests: an image classifier in either layout, a
two-input tensor model, a graph with a fixed batch, one whose rows interact, one onnxruntime cannot load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, checker, helper, save

FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64


def _save(path: Path, nodes, inputs, outputs, initializers=(), check: bool = True) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if check:
        checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(model, str(path))
    return path


def _tensor(name: str, array: np.ndarray):
    return helper.make_tensor(name, FLOAT, array.shape, array.ravel())


def image_classifier(
    path: Path, classes: int = 5, layout: str = "nchw", channels: int = 3, size: int = 32, batch: str | int = "N"
) -> Path:
    """(batch, C, size, size) or (batch, size, size, C) -> (batch, classes) logits: a 3x3 convolution with stride
    4, then a linear layer over every position, so that any shift, flip or channel swap changes the scores."""
    rng = np.random.default_rng(7)
    cells = ((size + 2 - 3) // 4 + 1) ** 2 * 8
    weights = [
        _tensor("conv_w", rng.normal(0, 0.5, (8, channels, 3, 3)).astype(np.float32)),
        _tensor("conv_b", rng.normal(0, 0.1, 8).astype(np.float32)),
        _tensor("fc_w", rng.normal(0, 0.2, (cells, classes)).astype(np.float32)),
        _tensor("fc_b", rng.normal(0, 0.1, classes).astype(np.float32)),
    ]
    first = "pixels"
    nodes = []
    if layout == "nhwc":
        nodes.append(helper.make_node("Transpose", ["pixels"], ["nchw"], perm=[0, 3, 1, 2]))
        first = "nchw"
    nodes += [
        helper.make_node("Conv", [first, "conv_w", "conv_b"], ["conv"], kernel_shape=[3, 3], strides=[4, 4],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("Flatten", ["relu"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"]),
    ]  # fmt: skip
    shape = [batch, channels, size, size] if layout == "nchw" else [batch, size, size, channels]
    inputs = [helper.make_tensor_value_info("pixels", FLOAT, shape)]
    return _save(path, nodes, inputs, [helper.make_tensor_value_info("logits", FLOAT, [batch, classes])], weights)


def two_inputs(path: Path) -> Path:
    """x float32 (N, 4) and k int64 (N,) -> scaled = x * k per row (N, 4), total = the sum of x's row (N,)."""
    nodes = [
        helper.make_node("Cast", ["k"], ["kf"], to=FLOAT),
        helper.make_node("Unsqueeze", ["kf", "axis1"], ["k_col"]),
        helper.make_node("Mul", ["x", "k_col"], ["scaled"]),
        helper.make_node("ReduceSum", ["x", "axis1"], ["total"], keepdims=0),
    ]
    inputs = [helper.make_tensor_value_info("x", FLOAT, ["N", 4]), helper.make_tensor_value_info("k", INT64, ["N"])]
    outputs = [
        helper.make_tensor_value_info("scaled", FLOAT, ["N", 4]),
        helper.make_tensor_value_info("total", FLOAT, ["N"]),
    ]
    axis = helper.make_tensor("axis1", INT64, [1], [1])
    return _save(path, nodes, inputs, outputs, [axis])


def fixed_batch(path: Path) -> Path:
    """x (1, 3) -> y = 2x (1, 3)."""
    nodes = [helper.make_node("Add", ["x", "x"], ["y"])]
    return _save(
        path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", FLOAT, [1, 3])],
    )


def rows_interact(path: Path, classes: int = 3) -> Path:
    """(N, 3, 8, 8) -> (N, classes): each image's channel means minus the batch's (as batch norm in training
    mode does), so a row's output depends on the other rows."""
    nodes = [
        helper.make_node("ReduceMean", ["pixels"], ["means"], axes=[2, 3], keepdims=0),  # (N, 3)
        helper.make_node("ReduceMean", ["means"], ["batch_mean"], axes=[0], keepdims=1),  # (1, 3)
        helper.make_node("Sub", ["means", "batch_mean"], ["scores"]),
    ]
    inputs = [helper.make_tensor_value_info("pixels", FLOAT, ["N", 3, 8, 8])]
    return _save(path, nodes, inputs, [helper.make_tensor_value_info("scores", FLOAT, ["N", classes])])


def unloadable(path: Path) -> Path:
    """A well-formed ONNX file whose one node is an operator onnxruntime does not have."""
    nodes = [helper.make_node("NoSuchOperator", ["x"], ["y"])]
    inputs, outputs = (
        [helper.make_tensor_value_info("x", FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", FLOAT, ["N", 3])],
    )
    return _save(path, nodes, inputs, outputs, check=False)
