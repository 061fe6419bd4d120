"""Hot reload on the real server under continuous traffic: no request fails, the served version changes, and a
corrupt version's load fails with its reason while the serving version keeps serving."""

from __future__ import annotations

import base64
import io
import shutil
import threading
import time
from collections import Counter

import httpx
import numpy as np
import pytest
from PIL import Image
from tests_support import lenet_repository, start_server, stop_server

pytestmark = pytest.mark.integration

KEY = "reload-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_SECONDS = 60  # every traffic loop stops by itself


class Traffic:
    """Threads sending typed and v2 requests back to back, recording (status, version, sent_at, done_at, text)."""

    def __init__(self, url: str, digit: np.ndarray, threads: int = 4) -> None:
        buf = io.BytesIO()
        Image.fromarray(digit).save(buf, format="PNG")
        self.classify = {"images": [base64.b64encode(buf.getvalue()).decode()]}
        self.tensor = {"inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [0.0] * 784}]}
        self.url, self.stop = url, threading.Event()
        self.results: list[tuple[int, int | None, float, float, str]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def run(self, i: int) -> None:
        started = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=30, headers=AUTH) as client:
            n = 0
            while not self.stop.is_set() and time.monotonic() - started < MAX_SECONDS:
                sent_at = time.monotonic()
                if (n + i) % 2:
                    r = client.post("/v1/classify", json=self.classify)
                    version = r.json().get("version") if r.status_code == 200 else None
                else:
                    r = client.post("/v2/models/lenet5-mnist/infer", json=self.tensor)
                    version = int(r.json()["model_version"]) if r.status_code == 200 else None
                with self.lock:
                    self.results.append((r.status_code, version, sent_at, time.monotonic(), r.text[:200]))
                n += 1

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def count(self) -> int:
        with self.lock:
            return len(self.results)


def test_reload_under_traffic_never_fails_a_request(tmp_path, mnist_test):
    root = lenet_repository(tmp_path / "models")
    srv = start_server(root, tmp_path / "server.log", {"DLSERVE_API_KEYS": KEY})
    images, labels = mnist_test
    try:
        with httpx.Client(base_url=srv.url, timeout=60, headers=AUTH) as admin, Traffic(srv.url, images[0]) as traffic:
            while traffic.count() < 50:
                time.sleep(0.01)
            shutil.copytree(root / "lenet5-mnist" / "1", root / "lenet5-mnist" / "2")
            assert httpx.post(f"{srv.url}/v2/repository/models/lenet5-mnist/load").status_code == 401  # no key
            started = time.monotonic()
            r = admin.post("/v2/repository/models/lenet5-mnist/load")
            swapped_at = time.monotonic()
            assert r.status_code == 200 and r.json() == {
                "name": "lenet5-mnist",
                "version": "2",
                "state": "READY",
                "reason": "",
            }
            before = traffic.count()
            while traffic.count() < before + 50:
                time.sleep(0.01)
            bad = root / "lenet5-mnist" / "3"
            shutil.copytree(root / "lenet5-mnist" / "1", bad)
            (bad / "model.onnx").write_bytes(b"not an onnx file")
            r = admin.post("/v2/repository/models/lenet5-mnist/load")
            assert r.status_code == 400
            assert r.json()["error"].startswith("loading 'lenet5-mnist' version 3 failed: ArtifactError: graph 'model'")
            before = traffic.count()
            while traffic.count() < before + 50:
                time.sleep(0.01)
        index = httpx.get(f"{srv.url}/v2/repository/index", headers=AUTH).json()
        assert index == [{"name": "lenet5-mnist", "version": "2", "state": "READY", "reason": ""}]
        statuses = Counter(status for status, *_ in traffic.results)
        failures = [text for status, *_, text in traffic.results if status != 200]
        assert statuses == {200: len(traffic.results)}, failures[:3]
        versions = Counter(v for _, v, *_ in traffic.results)
        after_swap = {v for _, v, sent_at, _, _ in traffic.results if sent_at > swapped_at}
        during_load = sum(
            1 for _, _, sent_at, done_at, _ in traffic.results if sent_at < swapped_at and done_at > started
        )
        assert versions[1] >= 50 and versions[2] >= 100 and after_swap == {2} and during_load >= 1
        print(
            f"{len(traffic.results)} requests during two loads, none failed; v1 {versions[1]}, v2 {versions[2]}; "
            f"the good load took {swapped_at - started:.2f}s with {during_load} requests in flight across it"
        )
        r = httpx.post(f"{srv.url}/v1/classify", json=traffic.classify, headers=AUTH, params={"version": 2}).json()
        assert r["version"] == 2 and r["results"][0]["predictions"][0]["label"] == str(labels[0])
    finally:
        stop_server(srv)
