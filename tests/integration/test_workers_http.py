"""DLSERVE_WORKERS=2: two uvicorn worker processes, each with its own models, behind one port."""

from __future__ import annotations

import time

import httpx
import pytest
from tests_support import MODELS, start_server, stop_server

pytestmark = pytest.mark.integration


def test_two_workers_serve_and_settings_reach_them(tmp_path):
    srv = start_server(MODELS, tmp_path / "server.log", {"DLSERVE_WORKERS": "2"})
    log = tmp_path / "server.log"
    try:
        # /readyz answers from whichever worker accepts; wait until both have loaded every model.
        names = sorted(p.name for p in MODELS.iterdir() if (p / "1" / "manifest.json").is_file())
        for _ in range(600):
            text = log.read_text()
            if all(text.count(f"model {n} v1 ready") == 2 for n in names):
                break
            time.sleep(0.1)
        texts = set()
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            for _ in range(12):
                r = client.post("/v1/generate", json={"prompt": "ROMEO:", "max_tokens": 20, "seed": 3})
                assert r.status_code == 200
                texts.add(r.json()["text"])
        assert len(texts) == 1  # same seed, same text, whichever worker answered
        assert log.read_text().count("model lenet5-mnist v1 ready") == 2  # each worker loaded its own copy
    finally:
        stop_server(srv)
