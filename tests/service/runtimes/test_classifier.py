"""The classifier runtime serves any image classifier whose manifest declares a recipe and labels: here a tiny
colour-photo graph written in the test, beside LeNet-5, with no code of its own (docs/add-a-model-family.md)."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper, save
from onnx_models import image_classifier
from tests_support import MODELS, png, wait_ready

from core.checksums import file_sha256
from core.model_folders import read_manifest
from core.packaging import package_classifier
from service.app import create_app
from service.repository import ModelRepository
from service.runtimes.classifier import ClassifierRuntime
from service.settings import Settings

LABELS = ["red", "green", "blue", "grey"]


def colour_classifier(folder: Path) -> None:
    """(N, 3, 8, 8) -> (N, 4) logits: the mean of each channel, and a constant for grey."""
    weights = np.zeros((192, 4), np.float32)
    for c in range(3):
        weights[c * 64 : (c + 1) * 64, c] = 1 / 64
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "colours",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.ravel())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    version = folder / "1"
    version.mkdir(parents=True)
    save(model, str(version / "model.onnx"))
    probe = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    (expected,) = ort.InferenceSession(str(version / "model.onnx")).run(None, {"image": probe})
    manifest = {
        "name": folder.name, "version": 1, "task": "classify",
        "graphs": {"model": {"file": "model.onnx", "sha256": file_sha256(version / "model.onnx"),
                             "inputs": [{"name": "image", "dtype": "float32", "shape": [-1, 3, 8, 8]}],
                             "outputs": [{"name": "logits", "dtype": "float32", "shape": [-1, 4]}]}},
        "preprocessing": {"kind": "photo", "resize": 10, "crop": 8, "mean": [0, 0, 0], "std": [1, 1, 1]},
        "labels": LABELS,
        "reference": {"graph": "model", "inputs": {"image": {"dtype": "float32", "data": probe.tolist()}},
                      "outputs": {"logits": {"dtype": "float32", "data": expected.tolist()}}},
    }  # fmt: skip
    (version / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    shutil.copytree(MODELS / "lenet5-mnist", root / "lenet5-mnist")
    colour_classifier(root / "colours")
    settings = Settings(model_dir=root, providers="cpu", default_models={"classify": "lenet5-mnist"})
    with TestClient(create_app(settings)) as c:
        wait_ready(c)
        yield c


def photo(rgb: tuple[int, int, int]) -> str:
    return base64.b64encode(png(np.full((30, 20, 3), rgb, np.uint8))).decode()


def test_a_colour_classifier_is_served_by_its_manifest_alone(client):
    body = {"images": [photo((250, 10, 10)), photo((10, 10, 250)), photo((5, 200, 5))]}
    r = client.post("/v1/classify", params={"model": "colours", "top_k": 1}, json=body)
    assert r.status_code == 200, r.text
    assert [res["predictions"][0]["label"] for res in r.json()["results"]] == ["red", "blue", "green"]
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert listed["colours"]["engine"] == "batch" and listed["colours"]["status"] == "ready"
    assert (listed["lenet5-mnist"]["default"], listed["colours"]["default"]) == (True, False)


def test_requests_without_a_model_get_the_default_classifier(client):
    digit = base64.b64encode(png(np.pad(np.full((20, 4), 255, np.uint8), ((4, 4), (12, 12))))).decode()
    r = client.post("/v1/classify", json={"images": [digit]})
    assert r.status_code == 200 and r.json()["model"] == "lenet5-mnist"
    assert r.json()["results"][0]["predictions"][0]["label"] == "1"


def test_top_k_is_bounded_by_the_model_labels(client):
    r = client.post("/v1/classify", params={"model": "colours", "top_k": 5}, json={"images": [photo((1, 2, 3))]})
    assert r.status_code == 422 and "top_k is 5; allowed: 1..4 for model 'colours'" in r.json()["detail"]


def test_labels_must_match_the_output_width(tmp_path):
    colour_classifier(tmp_path / "colours")
    path = tmp_path / "colours" / "1" / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "labels": LABELS[:3]}))
    repo = ModelRepository(Settings(model_dir=tmp_path, providers="cpu"))
    repo.load_all()
    assert "the model has 4 outputs but the manifest lists 3 labels" in repo.get("colours").reason


def test_a_graph_with_a_fixed_batch_of_one_is_called_once_per_image(tmp_path):
    (tmp_path / "labels.txt").write_text("a\nb\nc\nd\ne\n")
    runtimes = []
    for name, batch in (("one", 1), ("any", "N")):  # the same weights, exported with a fixed and a dynamic batch
        folder = package_classifier(image_classifier(tmp_path / f"{name}.onnx", batch=batch), name,
                                    tmp_path / "labels.txt", {}, tmp_path / "models").folder  # fmt: skip
        manifest = read_manifest(folder)
        runtimes.append(ClassifierRuntime(manifest, folder, "cpu"))
    one, any_batch = runtimes
    one.warm_up()
    rows = np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(one.predict(rows), any_batch.predict(rows), atol=1e-6)


def test_typed_and_v2_rows_join_one_batch_of_the_graphs_named_arrays(mnist_test):
    import asyncio

    from service.engine.batcher import DynamicBatcher, count

    folder = MODELS / "lenet5-mnist" / "1"
    runtime = ClassifierRuntime(read_manifest(folder), folder, "cpu")
    assert runtime.v2_batches("model")
    digits = ((mnist_test[0][:3, None] / 255.0 - 0.1307) / 0.3081).astype(np.float32)
    calls = []

    def infer(feeds):
        calls.append(count(feeds))
        return runtime.infer(feeds)

    async def main():
        batcher = DynamicBatcher(infer, max_batch_size=64, max_delay_ms=200)
        with batcher.announce():  # a third request on its way keeps the batch open for both
            typed = batcher.submit(runtime.feeds(digits[:2].astype(np.float64)))  # as preprocessing gives them
            v2 = batcher.submit({"image": digits[2:]})  # as the v2 codec gives them
            out = await asyncio.gather(typed, v2)
        await batcher.stop()
        return out

    typed, v2 = asyncio.run(main())
    assert calls == [3]  # one call of the graph for both requests
    alone = runtime.infer({"image": digits})
    np.testing.assert_allclose(np.concatenate([typed["logits"], v2["logits"]]), alone["logits"], atol=1e-6)
    top = [preds[0].label for preds in runtime.postprocess(typed, 3)]
    assert top == [str(y) for y in mnist_test[1][:2]]
    np.testing.assert_allclose(
        runtime.predict(digits), np.exp(alone["logits"]) / np.exp(alone["logits"]).sum(1, keepdims=True), atol=1e-6
    )
