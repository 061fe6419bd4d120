"""The tensor runtime (`dlserve package tensor`): batched on the first axis only when its graph and manifest
allow it, every output returned by name, concurrent requests merged into one call by the engine."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from onnx import TensorProto, helper, save
from onnx_models import fixed_batch, two_inputs

from core.model_folders import read_manifest
from core.packaging import package_tensor
from service.engine.engines import Engine
from service.metrics import Metrics
from service.runtimes.base import ArtifactError, runtime_class
from service.runtimes.tensor import TensorRuntime
from service.settings import Settings


def load(folder) -> TensorRuntime:
    manifest = read_manifest(folder)
    runtime = runtime_class(manifest)(manifest, folder, "cpu")
    assert isinstance(runtime, TensorRuntime)
    runtime.warm_up()
    return runtime


def doubles_any_length(path):
    """x (N, L) -> y = 2x, L dynamic too: requests of different lengths cannot share a call."""
    info = helper.make_tensor_value_info
    x, y = info("x", TensorProto.FLOAT, ["N", "L"]), info("y", TensorProto.FLOAT, ["N", "L"])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "twice", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, str(path))
    return path


def test_a_graph_batched_on_its_first_axis(tmp_path):
    runtime = load(package_tensor(two_inputs(tmp_path / "two.onnx"), "two", tmp_path / "models").folder)
    assert runtime.batch_call == "infer" and runtime.v2_batches("model")
    out = runtime.infer({"x": np.ones((2, 4), np.float32), "k": np.array([2, 3])})
    assert list(out) == ["scaled", "total"]
    np.testing.assert_array_equal(out["scaled"], [[2] * 4, [3] * 4])
    np.testing.assert_array_equal(out["total"], [4, 4])


def test_a_graph_with_a_fixed_batch_gets_no_batcher(tmp_path):
    runtime = load(package_tensor(fixed_batch(tmp_path / "fixed.onnx"), "fixed", tmp_path / "models").folder)
    assert runtime.batch_call is None and not runtime.v2_batches("model")
    engine = Engine("fixed", runtime, Settings(), Metrics())
    assert engine.kind == "direct" and engine.batcher is None


def test_a_manifest_that_does_not_batch_is_not_batched(tmp_path):
    folder = package_tensor(two_inputs(tmp_path / "two.onnx"), "two", tmp_path / "models").folder
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["batching"]["max_batch_size"] = 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert load(folder).batch_call is None


def test_a_tensor_manifest_has_one_graph(tmp_path):
    folder = package_tensor(two_inputs(tmp_path / "two.onnx"), "two", tmp_path / "models").folder
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["graphs"]["second"] = manifest["graphs"]["model"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ArtifactError, match=r"a tensor manifest has one graph, 'model'; this one has \['model', 'second'\]"
    ):
        load(folder)


def test_the_engine_merges_concurrent_requests_and_keeps_lengths_apart(tmp_path):
    runtime = load(package_tensor(doubles_any_length(tmp_path / "twice.onnx"), "twice", tmp_path / "m").folder)
    calls, infer = [], runtime.infer

    def counted(feeds):
        calls.append(feeds["x"].shape)
        return infer(feeds)

    runtime.infer = counted  # type: ignore[method-assign]
    engine = Engine("twice", runtime, Settings(), Metrics())
    rng = np.random.default_rng(0)
    requests = [
        {"x": rng.normal(size=(n, length)).astype(np.float32)} for n, length in ((1, 3), (2, 3), (3, 3), (1, 5))
    ]

    async def main():
        outs = await asyncio.gather(*(engine.batch(r) for r in requests))
        await engine.stop()
        return outs

    outs = asyncio.run(main())
    assert calls == [(6, 3), (1, 5)]  # three requests in one call; the other length in its own
    for request, out in zip(requests, outs, strict=True):
        np.testing.assert_allclose(out["y"], 2 * request["x"])
