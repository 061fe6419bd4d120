"""Packaged tensor models on the v2 routes, in memory: batched and unbatched graphs, one batch per request, a
graph's own failure as a 400, and the typed /v1 routes unaffected by a model of a task they do not serve."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from onnx_models import fixed_batch, two_inputs
from tests_support import fail_on_rows, wait_ready

from core.packaging import package_tensor
from service.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("v2-tensor")
    models = root / "models"
    two = package_tensor(two_inputs(root / "two.onnx"), "two", models).folder
    fail_on_rows(two, "model", 3)  # onnxruntime raises whenever a call has 3 rows
    package_tensor(fixed_batch(root / "fixed.onnx"), "fixed", models)
    with TestClient(create_app(Settings(model_dir=models))) as c:
        wait_ready(c)
        yield c


def tensor(name: str, x: np.ndarray, datatype: str) -> dict:
    return {"name": name, "shape": list(x.shape), "datatype": datatype, "data": x.reshape(-1).tolist()}


def two_body(x: np.ndarray, k: np.ndarray, **extra) -> dict:
    return {"inputs": [tensor("x", x, "FP32"), tensor("k", k, "INT64")], **extra}


def test_metadata_and_listing(client):
    meta = client.get("/v2/models/two").json()
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("x", "FP32", [-1, 4]),
        ("k", "INT64", [-1]),
    ]
    assert "parameters" not in meta  # nothing to prepare: tensors in, tensors out
    engines = {m["name"]: (m["task"], m["engine"]) for m in client.get("/v1/models").json()["models"]}
    assert engines == {"two": ("tensor", "batch"), "fixed": ("tensor", "direct")}


def test_infer_returns_the_graph_outputs(client):
    x, k = np.arange(8, dtype=np.float32).reshape(2, 4), np.array([3, -1])
    body = client.post("/v2/models/two/infer", json=two_body(x, k, outputs=[{"name": "total"}], id="q")).json()
    assert body["id"] == "q" and [o["name"] for o in body["outputs"]] == ["total"]
    assert body["outputs"][0] == {"name": "total", "shape": [2], "datatype": "FP32", "data": [6.0, 22.0]}
    scaled = client.post("/v2/models/two/infer", json=two_body(x, k)).json()["outputs"][0]
    np.testing.assert_array_equal(np.reshape(scaled["data"], scaled["shape"]), x * k[:, None])
    fixed = client.post("/v2/models/fixed/infer", json={"inputs": [tensor("x", np.ones((1, 3)), "FP32")]}).json()
    assert fixed["outputs"][0]["data"] == [2.0, 2.0, 2.0]


def test_inputs_of_one_request_are_one_batch(client):
    r = client.post("/v2/models/two/infer", json=two_body(np.ones((2, 4), np.float32), np.array([1])))
    assert r.status_code == 400
    assert r.json() == {
        "error": "model 'two' takes one batch: every input has the same first dimension; got {'x': 2, 'k': 1}"
    }


def test_a_graph_failure_is_a_400_and_the_model_keeps_serving(client):
    r = client.post("/v2/models/two/infer", json=two_body(np.ones((3, 4), np.float32), np.ones(3, np.int64)))
    assert r.status_code == 400 and r.json()["error"].startswith("model 'two' could not run on these inputs:")
    r = client.post("/v2/models/two/infer", json=two_body(np.ones((4, 4), np.float32), np.ones(4, np.int64)))
    assert r.status_code == 200


def test_typed_routes_refuse_a_tensor_model_and_keep_their_own_errors(client):
    r = client.post("/v1/classify", params={"model": "two"}, files=[("files", ("a.png", b"x", "image/png"))])
    assert r.status_code == 422 and "model 'two' is a tensor model, not classify" in r.json()["detail"]
    r = client.post("/v1/classify", files=[("files", ("a.png", b"x", "image/png"))])
    assert r.status_code == 404 and "no classify model in the repository" in r.json()["detail"]
