"""The v2 routes in memory (TestClient) on a one-model repository: metadata, inference, errors, repository."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from tests_support import MODELS, lenet_repository, wait_ready

from service.app import create_app
from service.settings import Settings

LENET = MODELS / "lenet5-mnist" / "1" / "model.onnx"


@pytest.fixture
def root(tmp_path):
    return lenet_repository(tmp_path / "models")


@pytest.fixture
def client(root):
    with TestClient(create_app(Settings(model_dir=root, max_upload_bytes=100_000))) as c:
        wait_ready(c)
        yield c


def infer_body(x: np.ndarray, **extra) -> dict:
    return {"inputs": [{"name": "image", "shape": list(x.shape), "datatype": "FP32", "data": x.tolist()}], **extra}


def test_server_and_model_endpoints(client):
    assert client.get("/v2").json() == {
        "name": "dlserve",
        "version": "0.1.0",
        "extensions": ["binary_tensor_data", "model_repository"],
    }
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/lenet5-mnist/ready").json() == {"name": "lenet5-mnist", "ready": True}
    assert client.get("/v2/models/lenet5-mnist/versions/1/ready").status_code == 200
    meta = client.get("/v2/models/lenet5-mnist/versions/1").json()
    assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]


def test_infer_equals_onnxruntime_and_echoes_the_id(client):
    x = np.random.default_rng(0).normal(size=(3, 1, 28, 28)).astype(np.float32)
    (expected,) = ort.InferenceSession(str(LENET)).run(["logits"], {"image": x})
    r = client.post("/v2/models/lenet5-mnist/versions/1/infer", json=infer_body(x, id="req-7"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "lenet5-mnist" and body["model_version"] == "1" and body["id"] == "req-7"
    (out,) = body["outputs"]
    assert out["name"] == "logits" and out["shape"] == [3, 10] and out["datatype"] == "FP32"
    np.testing.assert_allclose(np.array(out["data"], np.float32).reshape(3, 10), expected, atol=1e-5)
    flat = client.post("/v2/models/lenet5-mnist/infer", json={**infer_body(x), "inputs": [
        {"name": "image", "shape": [3, 1, 28, 28], "datatype": "FP32", "data": x.reshape(-1).tolist()}
    ]}).json()  # fmt: skip
    assert flat["outputs"][0]["data"] == out["data"] and "id" not in flat


def test_binary_response_over_plain_http(client):
    x = np.zeros((2, 1, 28, 28), np.float32)
    header = json.dumps({"inputs": [{"name": "image", "shape": [2, 1, 28, 28], "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode()  # fmt: skip
    r = client.post(
        "/v2/models/lenet5-mnist/infer",
        content=header + x.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header)), "content-type": "application/octet-stream"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    n = int(r.headers["inference-header-content-length"])
    meta = json.loads(r.content[:n])
    assert meta["outputs"][0]["parameters"] == {"binary_data_size": 80}
    logits = np.frombuffer(r.content[n:], "<f4").reshape(2, 10)
    (expected,) = ort.InferenceSession(str(LENET)).run(["logits"], {"image": x})
    np.testing.assert_allclose(logits, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        ("get", "/v2/models/resnet", {}, 404, "model 'resnet' not found; v2 models: ['lenet5-mnist']"),
        ("get", "/v2/models/lenet5-mnist/versions/2", {}, 404, "has no version '2' loaded; it serves version 1"),
        ("get", "/v2/models/lenet5-mnist.nope", {}, 404, "model 'lenet5-mnist' has no graph 'nope'"),
        ("post", "/v2/models/resnet/infer", {"json": {}}, 404, "model 'resnet' not found"),
        ("post", "/v2/models/lenet5-mnist/infer", {"content": b"{oops"}, 400, "request body is not valid JSON"),
        ("post", "/v2/models/lenet5-mnist/infer", {"json": {"inputs": []}}, 400, "List should have at least 1 item"),
        (
            "post",
            "/v2/models/lenet5-mnist/infer",
            {"json": {"inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [0] * 783}]}},
            400,
            "holds 784 values but data has 783",
        ),  # fmt: skip
        (
            "post",
            "/v2/models/lenet5-mnist/infer",
            {
                "json": {
                    "inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [0] * 784}],
                    "outputs": [{"name": "probs"}],
                }
            },
            400,
            "has no output 'probs'",
        ),  # fmt: skip
        ("post", "/v2/models/lenet5-mnist/infer", {"content": b"x" * 200_000}, 413, "the limit is 100000 bytes"),
        ("get", "/v2/no/such/route", {}, 404, "no route for '/v2/no/such/route'; the routes are listed at /docs"),
        ("post", "/v2/health/live", {}, 405, "POST is not allowed on '/v2/health/live'; allowed: GET"),
    ],
)
def test_errors_have_the_v2_shape(client, method, path, kwargs, status, message):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status, r.text
    assert list(r.json()) == ["error"] and message in r.json()["error"]


def test_repository_index_load_and_unload(client, root):
    assert client.get("/v2/repository/index").json() == [
        {"name": "lenet5-mnist", "version": "1", "state": "READY", "reason": ""}
    ]
    shutil.copytree(root / "lenet5-mnist" / "1", root / "lenet5-mnist" / "2")
    r = client.post("/v2/repository/models/lenet5-mnist/load")
    assert r.json() == {"name": "lenet5-mnist", "version": "2", "state": "READY", "reason": ""}
    assert client.get("/v2/models/lenet5-mnist").json()["versions"] == ["2"]
    r = client.post("/v2/repository/models/lenet5-mnist/load", json={"parameters": {"version": "1"}})
    assert r.json()["version"] == "1"
    assert client.post("/v2/repository/models/lenet5-mnist/unload", json={}).json()["state"] == "UNAVAILABLE"
    assert client.get("/v2/models/lenet5-mnist/ready").json() == {"name": "lenet5-mnist", "ready": False}
    r = client.get("/v2/models/lenet5-mnist")
    assert r.status_code == 503 and r.json() == {"error": "model 'lenet5-mnist' is unloaded: unloaded on request"}
    assert client.post("/v2/repository/models/lenet5-mnist/load").json()["state"] == "READY"
    (root / "lenet5-mnist" / "3").mkdir()
    r = client.post("/v2/repository/models/lenet5-mnist/load")
    assert r.status_code == 400 and "version 3 failed: ValueError:" in r.json()["error"]
    assert client.get("/v2/models/lenet5-mnist").json()["versions"] == ["2"]
    for name, status, message in (
        ("Lenet", 400, "model name 'Lenet' is invalid; names match ^[a-z0-9][a-z0-9.-]*$"),
        (".env", 400, "model name '.env' is invalid"),
        ("a%2F..%2F..", 404, "no route for"),  # a slash never reaches the name: no route matches
        ("nope", 404, "model 'nope' not found in the model directory; models: ['lenet5-mnist']"),
    ):
        r = client.post(f"/v2/repository/models/{name}/load")
        assert r.status_code == status and message in r.json()["error"], r.text
    r = client.post("/v2/repository/models/lenet5-mnist/load", json={"parameters": {"version": "x"}})
    assert r.status_code == 400 and "parameters.version is 'x'" in r.json()["error"]


def test_typed_requests_can_name_the_version(client):
    # The version is checked before the body is read: any body will do.
    r = client.post("/v1/classify?version=2", files=[("files", ("a.png", b"x", "image/png"))])
    assert r.status_code == 404 and "model 'lenet5-mnist' version 2 is not served; it serves version 1" in r.text
    r = client.post("/v1/classify?version=0", files=[("files", ("a.png", b"x", "image/png"))])
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"


@pytest.mark.parametrize(
    "request_kwargs",
    [{"content": b"{}"}, {"content": b'{"parameters": {}}', "headers": {"content-type": "text/plain"}}, {}],
    ids=["no-content-type", "text-plain", "no-body"],
)
def test_a_repository_body_is_json_whatever_its_content_type(client, request_kwargs):
    # tritonclient's load_model and unload_model send `{}` with no Content-Type
    r = client.post("/v2/repository/models/lenet5-mnist/load", **request_kwargs)
    assert r.status_code == 200 and r.json()["state"] == "READY", r.text


def test_a_repository_body_that_is_not_a_request_is_a_400(client):
    for body, message in ((b"[1]", "invalid repository request: body: "), (b"{", "invalid repository request: body: "),
                          (b'{"parameters": 3}', "invalid repository request: parameters: ")):  # fmt: skip
        r = client.post("/v2/repository/models/lenet5-mnist/load", content=body)
        assert r.status_code == 400 and r.json()["error"].startswith(message), r.text
