"""API keys and CORS in memory: which paths are open, 401 with WWW-Authenticate, constant-time key checks."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from tests_support import lenet_repository, wait_ready

from service.app import create_app
from service.auth import APIKeyMiddleware, APIKeys
from service.settings import Settings

KEYS = ["key-one", "key-two"]
ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return lenet_repository(tmp_path_factory.mktemp("models"))


def app_client(root, **settings) -> TestClient:
    return TestClient(create_app(Settings(model_dir=root, **settings)))


@pytest.fixture(scope="module")
def client(root):
    with app_client(root, api_keys=KEYS, cors_origins=[ORIGIN]) as c:
        wait_ready(c)
        yield c


OPEN = ["/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics", "/", "/static/app.js"]
KEYED = [
    ("get", "/v1/models"),
    ("get", "/v2"),
    ("get", "/v2/models/lenet5-mnist"),
    ("get", "/v2/repository/index"),
    ("post", "/v2/repository/models/lenet5-mnist/unload"),
    ("post", "/v2/repository/models/lenet5-mnist/load"),
    ("get", "/docs"),
    ("get", "/v1/models/lenet5-mnist/curves.png"),
]


@pytest.mark.parametrize("path", OPEN)
def test_probes_and_metrics_are_open_by_default(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(("method", "path"), KEYED)
def test_everything_else_needs_a_key(client, method, path):
    r = getattr(client, method)(path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="dlserve"'
    message = "an API key is required: send Authorization: Bearer <key> or X-API-Key"
    if path.startswith("/v2"):
        assert r.json() == {"error": message}
    else:
        assert r.json()["error"] == "unauthorized" and r.json()["detail"] == message
        assert r.json()["request_id"] == r.headers["x-request-id"]
    wrong = getattr(client, method)(path, headers={"Authorization": "Bearer key-three"})
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert "the API key is not valid" in wrong.text
    for headers in ({"Authorization": "Bearer key-one"}, {"X-API-Key": "key-two"}, {"authorization": "bearer key-two"}):
        assert getattr(client, method)(path, headers=headers).status_code == 200, (path, headers)


def test_cors_preflight_needs_no_key_and_only_listed_origins_are_allowed(client):
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    r = client.options("/v2/models/lenet5-mnist/infer", headers=preflight)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    r = client.get("/v2", headers={"Origin": ORIGIN, "X-API-Key": "key-one"})
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
    r = client.get("/v2", headers={"Origin": "https://evil.example", "X-API-Key": "key-one"})
    assert "access-control-allow-origin" not in r.headers
    r = client.options("/v2/models/lenet5-mnist/infer", headers={**preflight, "Origin": "https://evil.example"})
    assert r.status_code == 400


def test_open_paths_are_configurable_but_repository_management_never_is(root):
    with app_client(root, api_keys=KEYS, auth_open_paths=["/v2/health/ready"]) as c:
        assert c.get("/v2/health/ready").status_code in (200, 400)  # open: answered, ready or not
        assert c.get("/healthz").status_code == 401 and c.get("/metrics").status_code == 401
    with pytest.raises(ValidationError, match="cannot be open: repository load/unload always needs a key"):
        Settings(api_keys=KEYS, auth_open_paths=["/healthz", "/v2/repository/models/lenet5-mnist/load"])


def test_without_keys_nothing_is_keyed(root):
    with app_client(root) as c:
        assert c.get("/v1/models").status_code == 200 and c.get("/v2").status_code == 200


def test_every_key_is_compared(monkeypatch):
    calls = []
    import service.auth as auth

    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    keys = APIKeyMiddleware(app=None, keys=["a", "b", "c"], open_paths=[]).keys
    assert keys.valid("a") and len(calls) == 3  # no early exit on the first match
    assert not keys.valid("d") and not keys.valid("")


def test_the_check_reads_either_header_and_says_why_it_refuses():
    keys = APIKeys(["k1"])
    assert keys.presented("Bearer k1", None) == "k1" and keys.presented("bearer  k1 ", "x") == "k1"
    assert keys.presented("Basic k1", "k2") == "k2" and keys.presented(None, None) is None
    assert keys.refusal("k1") is None
    assert keys.refusal(None).startswith("an API key is required") and keys.refusal("k2") == "the API key is not valid"
    assert not APIKeys([]).enabled and keys.enabled
