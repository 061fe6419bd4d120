"""Slow clients on the real server: a body trickling in byte by byte blocks nobody, and a body that stalls is
answered 408 once DLSERVE_BODY_TIMEOUT_S has passed, freeing its admission slot."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time

import httpx
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from tests_support import lenet_repository, start_server, stop_server

pytestmark = pytest.mark.integration

BODY_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = lenet_repository(tmp_path_factory.mktemp("models"))
    srv = start_server(root, root.parent / "server.log", {"DLSERVE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def digit_body(mnist_test) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(mnist_test[0][0]).save(buf, format="PNG")
    return json.dumps({"images": [base64.b64encode(buf.getvalue()).decode()]}).encode()


class SlowClient(threading.Thread):
    """POSTs `body` over a raw socket: `head` bytes at once, then one byte every `interval` s, `trickle` times
    (all of the rest when `trickle` covers it, else it stalls there); keeps what the server answers."""

    def __init__(self, url: str, path: str, body: bytes, head: int, trickle: int, interval: float) -> None:
        super().__init__()
        self.host, self.port = url.removeprefix("http://").split(":")
        self.path, self.body, self.head, self.trickle, self.interval = path, body, head, trickle, interval
        self.mid_body = threading.Event()
        self.answer = b""

    def run(self) -> None:
        with socket.create_connection((self.host, int(self.port)), timeout=30) as s:
            s.sendall(
                f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.body)}\r\n\r\n".encode()
                + self.body[: self.head]
            )
            self.mid_body.set()
            for i in range(self.head, min(self.head + self.trickle, len(self.body))):
                time.sleep(self.interval)
                s.sendall(self.body[i : i + 1])
            while chunk := s.recv(65536):  # until the server closes, or the reply is whole
                self.answer += chunk
                if b"\r\n\r\n" in self.answer and self.answer.endswith(b"}"):
                    break

    @property
    def status(self) -> int:
        return int(self.answer.split(b" ", 2)[1])

    @property
    def headers(self) -> str:
        return self.answer.partition(b"\r\n\r\n")[0].decode().lower()

    @property
    def json(self) -> dict:
        return json.loads(self.answer.partition(b"\r\n\r\n")[2])


def queue_depth(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    (depth,) = [
        s.value for f in text_string_to_metric_families(text) if f.name == "dlserve_queue_depth" for s in f.samples
    ]
    return depth


def test_a_trickling_body_blocks_no_other_request(server, digit_body, mnist_test):
    slow = SlowClient(server.url, "/v1/classify", digit_body, len(digit_body) - 12, 12, 0.2)  # 2.4 s of trickle
    slow.start()
    slow.mid_body.wait(5)
    latencies = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        started = time.monotonic()
        for _ in range(20):
            sent = time.monotonic()
            r = client.post("/v1/classify", content=digit_body, headers={"Content-Type": "application/json"})
            latencies.append(time.monotonic() - sent)
            assert r.status_code == 200 and r.json()["results"][0]["predictions"][0]["label"] == str(mnist_test[1][0])
        total = time.monotonic() - started
    assert slow.is_alive(), "the slow client should still be sending"
    assert total < 2.0 and max(latencies) < 0.5, latencies
    slow.join(10)
    assert slow.status == 200  # whole within the deadline: served as usual
    assert slow.json["results"][0]["predictions"][0]["label"] == str(mnist_test[1][0])


@pytest.mark.parametrize("path", ["/v1/classify", "/v1/generate", "/v2/models/lenet5-mnist/infer"])
def test_a_stalled_body_gets_408_and_frees_its_slot(server, digit_body, path):
    body = digit_body if path == "/v1/classify" else b'{"prompt": "ROMEO:", "max_tokens": 5}'
    stalled = SlowClient(server.url, path, body, len(body) // 2, 0, 0)
    started = time.monotonic()
    stalled.start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        if path == "/v1/classify":
            time.sleep(0.5)
            assert queue_depth(client) == 1  # the stalled request holds its slot while its body is awaited
        stalled.join(BODY_TIMEOUT_S + 5)
        waited = time.monotonic() - started
        assert not stalled.is_alive()
        assert stalled.status == 408 and "connection: close" in stalled.headers
        message = f"the request body did not arrive within {BODY_TIMEOUT_S:g} s; send it faster or retry"
        if path.startswith("/v2"):
            assert stalled.json == {"error": message}
        else:
            assert stalled.json["error"] == "request_timeout" and stalled.json["detail"] == message
        assert BODY_TIMEOUT_S <= waited < BODY_TIMEOUT_S + 2
        assert queue_depth(client) == 0
