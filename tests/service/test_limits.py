"""The request body limit applies to every endpoint, declared or streamed, in each route family's error shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests_support import lenet_repository, wait_ready

from service.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = lenet_repository(tmp_path_factory.mktemp("models"))
    with TestClient(create_app(Settings(model_dir=root, max_upload_bytes=1000))) as c:
        wait_ready(c)
        yield c


def chunks(n: int, size: int = 300):
    for _ in range(n):
        yield b" " * size


@pytest.mark.parametrize("path", ["/v1/generate", "/v1/translate", "/v2/repository/models/lenet5-mnist/load"])
def test_declared_length_over_the_limit(client, path):
    r = client.post(path, content=b"{" + b" " * 2000 + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413
    message = "request body is 2002 bytes; the limit is 1000 bytes"
    assert (r.json() == {"error": message}) if path.startswith("/v2") else (r.json()["detail"] == message)


@pytest.mark.parametrize("path", ["/v1/generate", "/v2/models/lenet5-mnist/infer"])
def test_streamed_body_over_the_limit(client, path):
    r = client.post(path, content=chunks(5), headers={"content-type": "application/json"})  # chunked: no length
    assert r.status_code == 413, r.text
    assert "request body exceeds the limit of 1000 bytes" in r.text


def test_small_bodies_pass(client):
    r = client.post("/v1/generate", json={"prompt": ""})
    assert r.status_code == 422  # parsed and validated, not refused for size
