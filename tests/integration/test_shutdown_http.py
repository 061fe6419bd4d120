"""SIGTERM on the real server: readiness turns false at once, requests in flight all finish, the process exits 0."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests_support import MODELS, start_server

pytestmark = pytest.mark.integration

SENTENCES = [
    "A man in an orange hat starring at something.",
    "Two young children are playing with a ball on the grass while their parents watch.",
    "A woman in a red dress is singing on a stage while a band plays behind her.",
    "A dog runs through the snow.",
] * 8  # 32 sentences, beam 10


def slow_requests() -> list[tuple[str, dict]]:
    gen = [("/v1/generate", {"prompt": "ROMEO:", "max_tokens": 1200, "seed": s}) for s in range(3)]
    tr = [("/v1/translate", {"texts": SENTENCES, "target": t, "beam_size": 10}) for t in ("fr", "de")]
    return gen + tr


def in_flight(client: httpx.Client) -> int:
    text = client.get("/metrics").text
    return int(
        sum(s.value for f in text_string_to_metric_families(text) if f.name == "dlserve_queue_depth" for s in f.samples)
    )


def test_sigterm_drains_requests_in_flight_then_exits_0(tmp_path):
    srv = start_server(MODELS, tmp_path / "server.log", {"DLSERVE_SHUTDOWN_GRACE_S": "60"})
    requests = slow_requests()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as probe, ThreadPoolExecutor(len(requests)) as pool:
            futures = [pool.submit(httpx.post, f"{srv.url}{path}", json=body, timeout=120) for path, body in requests]
            deadline = time.monotonic() + 30
            while in_flight(probe) < len(requests) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert in_flight(probe) == len(requests)
            srv.process.send_signal(signal.SIGTERM)
            sent_at = time.monotonic()
            time.sleep(0.2)
            ready = probe.get("/readyz")
            assert ready.status_code == 503 and ready.json()["draining"] is True
            assert probe.get("/v2/health/ready").json() == {"ready": False}
            assert probe.get("/healthz").status_code == 200  # alive, only not ready
            late = probe.post("/v1/generate", json={"prompt": "O", "max_tokens": 5, "seed": 1})
            assert late.status_code == 200  # still served while draining: a balancer may not have noticed yet
            responses = [f.result() for f in futures]
        assert [r.status_code for r in responses] == [200] * len(requests), [r.text for r in responses]
        assert all(r.json()["tokens"] == 1200 for r in responses[:3])
        assert all(len(r.json()["translations"]) == len(SENTENCES) for r in responses[3:])
        assert srv.process.wait(timeout=30) == 0
        print(f"drained {len(requests)} requests and exited {time.monotonic() - sent_at:.2f}s after SIGTERM")
        assert "SIGTERM: not ready any more; draining" in srv.log.read_text()
    finally:
        if srv.process.poll() is None:
            srv.process.kill()
