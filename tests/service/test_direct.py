"""Direct routes answer exactly as the FastAPI routes they stand in for: results, refusals and their status,
metrics labels; other methods and paths still reach FastAPI."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from tests_support import MODELS, png, served_version, wait_ready

from service import direct
from service.app import create_app
from service.settings import Settings


def client(monkeypatch, routes) -> TestClient:
    monkeypatch.setattr(direct, "ROUTES", routes)  # read when the app builds its middleware, at its first request
    c = TestClient(create_app(Settings(model_dir=MODELS, providers="cpu")))
    c.__enter__()
    wait_ready(c)
    return c


@pytest.fixture(scope="module")
def pair(mnist_test):
    mp = pytest.MonkeyPatch()
    fast, plain = client(mp, direct.ROUTES), client(mp, ())
    mp.undo()
    yield fast, plain
    for c in (fast, plain):
        c.__exit__(None, None, None)


def same(pair, method: str, url: str, **kw):
    fast, plain = pair
    a, b = fast.request(method, url, **kw), plain.request(method, url, **kw)
    assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"])
    body_a, body_b = a.json(), b.json()
    body_a.pop("request_id", None), body_b.pop("request_id", None)
    assert body_a == body_b
    return a


def test_classify_results_and_refusals_are_the_fastapi_routes(pair, mnist_test):
    seven = base64.b64encode(png(mnist_test[0][0])).decode()
    ok = same(pair, "POST", "/v1/classify?top_k=2", json={"images": [seven]})
    assert ok.status_code == 200 and ok.json()["results"][0]["predictions"][0]["label"] == "7"
    files = [("files", ("a.png", png(mnist_test[0][1]))), ("files", ("b.png", png(mnist_test[0][2])))]
    assert [r["name"] for r in same(pair, "POST", "/v1/classify", files=files).json()["results"]] == ["a.png", "b.png"]
    for url, status in (("/v1/classify?top_k=0", 422), ("/v1/classify?top_k=x", 422), ("/v1/classify?version=0", 422),
                        ("/v1/classify?model=nope", 404), ("/v1/classify?top_k=11", 422),
                        ("/v1/classify?model=gru-en-fr", 422)):  # fmt: skip
        assert same(pair, "POST", url, json={"images": [seven]}).status_code == status, url
    assert (
        same(pair, "POST", "/v1/classify", content=b"{", headers={"content-type": "application/json"}).status_code
        == 422
    )
    assert same(pair, "POST", "/v1/classify", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    assert same(pair, "GET", "/v1/classify").status_code == 405  # not a direct route: FastAPI answers


def test_v2_inference_and_its_refusals_are_the_fastapi_routes(pair):
    body = {"inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [0.0] * 784}]}
    assert same(pair, "POST", "/v2/models/lenet5-mnist/infer", json=body).status_code == 200
    served = served_version("lenet5-mnist")
    assert same(pair, "POST", f"/v2/models/lenet5-mnist/versions/{served}/infer", json=body).status_code == 200
    assert same(pair, "POST", "/v2/models/lenet5-mnist/versions/7/infer", json=body).status_code == 404
    assert same(pair, "POST", "/v2/models/nope/infer", json=body).status_code == 404
    assert same(pair, "POST", "/v2/models/lenet5-mnist/infer", json={"inputs": []}).status_code == 400
    assert same(pair, "POST", "/v2/models/lenet5-mnist/infer/extra", json=body).status_code == 404


def test_metrics_label_direct_requests_by_the_documented_route(pair):
    fast, _ = pair
    fast.post("/v2/models/lenet5-mnist/infer", json={"inputs": []})
    text = fast.get("/metrics").text
    assert 'endpoint="/v2/models/{name}/infer"' in text and 'endpoint="/v1/classify"' in text


def direct_layer(c: TestClient) -> direct.DirectRoutes:
    layer = c.app.middleware_stack
    while not isinstance(layer, direct.DirectRoutes):
        layer = layer.app
    return layer


def test_the_pair_compares_the_direct_routes_with_fastapis_own(pair):
    fast, plain = pair
    paths = sorted(r.route.path for r in direct_layer(fast).routes["POST"])
    assert paths == ["/v1/classify", "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"]
    assert direct_layer(plain).routes == {}  # everything through FastAPI's routing
