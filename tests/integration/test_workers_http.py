"""DLSERVE_WORKERS=2: two uvicorn worker processes, each with its own models, behind one port (and each serving
gRPC on the port they share)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import tritonclient.grpc as tg
from tests_support import MODELS, start_server, stop_server

from core.model_folders import latest_version

pytestmark = pytest.mark.integration


def request_pids(log_text: str, path: str, status: int | str = 200) -> set[int]:
    """The worker processes whose request log lines show `path` answered (with `status`)."""
    pids = set()
    for line in log_text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # uvicorn's supervisor prints plain lines
        if record.get("path") == path and record.get("status") == status:
            pids.add(record["pid"])
    return pids


def wait_for_both_workers(log, names: dict[str, str], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text()
        if all(text.count(f"model {n} v{v} ready") == 2 for n, v in names.items()):
            return
        time.sleep(0.1)
    pytest.fail(f"both workers did not load {names} within {timeout_s:g} s:\n{log.read_text()[-3000:]}")


def test_two_workers_serve_and_settings_reach_them(tmp_path):
    log = tmp_path / "server.log"
    srv = start_server(MODELS, log, {"DLSERVE_WORKERS": "2"})
    try:
        names = {p.name: latest_version(p).name for p in sorted(MODELS.iterdir()) if latest_version(p)}
        wait_for_both_workers(log, names)
        texts = set()

        def generate(_: int) -> str:  # a new connection each time, so the kernel hands them to either worker
            body = {"prompt": "ROMEO:", "max_tokens": 20, "seed": 3}
            r = httpx.post(f"{srv.url}/v1/generate", json=body, timeout=30)
            assert r.status_code == 200, r.text
            return r.json()["text"]

        with ThreadPoolExecutor(8) as pool:  # eight at once: while one worker is busy, the other accepts
            for _ in range(25):
                texts.update(pool.map(generate, range(8)))
                if len(request_pids(log.read_text(), "/v1/generate")) == 2:
                    break
        assert len(request_pids(log.read_text(), "/v1/generate")) == 2, "one worker answered every request"
        assert len(texts) == 1  # same seed, same text, whichever worker answered
        assert_both_workers_serve_grpc(srv, log)
    finally:
        stop_server(srv)


def assert_both_workers_serve_grpc(srv, log) -> None:
    path = "/inference.GRPCInferenceService/ModelInfer"

    def infer(_: int) -> bytes:  # a new channel each time: SO_REUSEPORT hands connections to either worker
        with tg.InferenceServerClient(srv.grpc) as client:
            image = tg.InferInput("image", [1, 1, 28, 28], "FP32")
            image.set_data_from_numpy(np.zeros((1, 1, 28, 28), np.float32))
            return client.infer("lenet5-mnist", [image]).as_numpy("logits").tobytes()

    answers = set()
    with ThreadPoolExecutor(8) as pool:
        for _ in range(25):
            answers.update(pool.map(infer, range(8)))
            if len(request_pids(log.read_text(), path, "OK")) == 2:
                break
    assert len(request_pids(log.read_text(), path, "OK")) == 2, "one worker answered every gRPC call"
    assert len(answers) == 1
