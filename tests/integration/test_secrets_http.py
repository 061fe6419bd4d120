"""No secrets in logs or responses: the real server, with API keys set and debug logging, is sent right and wrong
keys both ways (Bearer and X-API-Key); no key appears in its log output, /v1/models, /metrics or any response."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image
from tests_support import lenet_repository, start_server, stop_server

pytestmark = pytest.mark.integration

KEYS = ("sk-live-8f3a1c9e2b7d4f60", "sk-live-0b5e7a2c9d1f3e84")
WRONG = ("sk-wrong-5c2e9a7f1d3b8e06", "sk-wrong-a1b2c3d4e5f60718")


def test_no_key_appears_in_logs_or_responses(tmp_path, mnist_test):
    root = lenet_repository(tmp_path / "models")
    env = {"DLSERVE_API_KEYS": ",".join(KEYS), "DLSERVE_LOG_LEVEL": "debug"}
    srv = start_server(root, tmp_path / "server.log", env)
    buf = io.BytesIO()
    Image.fromarray(mnist_test[0][0]).save(buf, format="PNG")
    digit = {"images": [base64.b64encode(buf.getvalue()).decode()]}
    seen = []  # every response: status, headers and body are searched for the keys
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            for right, wrong in zip(KEYS, WRONG, strict=True):
                for headers, accepted in (
                    ({"Authorization": f"Bearer {right}"}, True),
                    ({"X-API-Key": right}, True),
                    ({"Authorization": f"Bearer {wrong}"}, False),
                    ({"X-API-Key": wrong}, False),
                    ({"Authorization": right}, False),  # no scheme: not a key presentation
                ):
                    for (method, path, body), status in (
                        (("POST", "/v1/classify", digit), 200),
                        (("POST", "/v1/classify", {"images": ["%%%"]}), 422),
                        (("GET", "/v1/models/nope", None), 404),
                        (("POST", "/v2/repository/models/nope/load", None), 404),
                    ):
                        r = client.request(method, path, json=body, headers=headers)
                        assert r.status_code == (status if accepted else 401), r.text
                        seen.append(r)
            seen += [client.get("/v1/models", headers={"X-API-Key": KEYS[0]}), client.get("/metrics")]
            seen += [client.get("/readyz"), client.get("/openapi.json", headers={"X-API-Key": KEYS[1]})]
            assert [r.status_code for r in seen[-4:]] == [200] * 4
    finally:
        stop_server(srv)
    log = srv.log.read_text()
    assert '"logger": "dlserve.access"' in log and log.count('"status": 401') == 2 * 3 * 4
    texts = [log] + [f"{r.status_code} {dict(r.headers)} {r.text}" for r in seen]
    for secret in KEYS + WRONG:
        for fragment in (secret, secret[8:], base64.b64encode(secret.encode()).decode()):
            assert not any(fragment in text for text in texts), f"{fragment!r} leaked"
