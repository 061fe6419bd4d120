"""The gRPC server under the HTTP server's policies, through tritonclient.grpc against real servers: API keys
(metadata), the message size limit, admission shared with HTTP (RESOURCE_EXHAUSTED), deadlines (the call's own
and the server's default: DEADLINE_EXCEEDED, the slot released), and the SIGTERM drain."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as tg
from tests_support import MODELS, grpc_calls, lenet_repository, queue_depth, start_server, stop_server
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration
KEYS = "k1,k2"
SLOW = (12, 1000)  # a charlstm prefill of 12 rows x 1000 characters: about 1.2 s of one core


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """lenet5-mnist behind API keys, with a 1 MB body (and message) limit."""
    root = lenet_repository(tmp_path_factory.mktemp("keyed-models"))
    env = {"DLSERVE_API_KEYS": KEYS, "DLSERVE_MAX_UPLOAD_BYTES": "1000000"}
    srv = start_server(root, tmp_path_factory.mktemp("keyed") / "server.log", env)
    yield srv
    stop_server(srv)


def charlstm_repository(root):
    shutil.copytree(MODELS / "charlstm-shakespeare", root / "charlstm-shakespeare")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """charlstm-shakespeare with one admission slot and a 0.3 s default deadline."""
    root = charlstm_repository(tmp_path_factory.mktemp("tiny-models"))
    env = {"DLSERVE_MAX_QUEUE": "1", "DLSERVE_REQUEST_TIMEOUT_S": "0.3"}
    srv = start_server(root, tmp_path_factory.mktemp("tiny") / "server.log", env)
    yield srv
    stop_server(srv)


def image(rows: int) -> tg.InferInput:
    x = tg.InferInput("image", [rows, 1, 28, 28], "FP32")
    x.set_data_from_numpy(np.zeros((rows, 1, 28, 28), np.float32))
    return x


def prefill(rows: int, length: int) -> list[tg.InferInput]:
    tokens = tg.InferInput("tokens", [rows, length], "INT64")
    tokens.set_data_from_numpy(np.arange(rows * length, dtype=np.int64).reshape(rows, length) % 60 + 1)
    states = [tg.InferInput(name, [2, rows, 512], "FP32") for name in ("h", "c")]
    for s in states:
        s.set_data_from_numpy(np.zeros((2, rows, 512), np.float32))
    return [tokens, *states]


def status_of(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(InferenceServerException) as err:
        call(*args, **kwargs)
    return err.value.status(), err.value.message()


def test_keys_from_metadata(strict):
    with tg.InferenceServerClient(strict.grpc) as c:
        assert c.is_server_live() and c.is_server_ready()  # the probes stay open, as their REST paths do
        code, message = status_of(c.infer, "lenet5-mnist", [image(1)])
        assert code == str(grpc.StatusCode.UNAUTHENTICATED) and "an API key is required" in message
        code, message = status_of(c.infer, "lenet5-mnist", [image(1)], headers={"authorization": "Bearer k3"})
        assert code == str(grpc.StatusCode.UNAUTHENTICATED) and message == "the API key is not valid"
        for headers in ({"authorization": "Bearer k1"}, {"x-api-key": "k2"}):
            assert c.infer("lenet5-mnist", [image(2)], headers=headers).as_numpy("logits").shape == (2, 10)
            assert c.get_model_metadata("lenet5-mnist", headers=headers).name == "lenet5-mnist"
        for call in (c.get_server_metadata, c.get_model_repository_index):
            assert status_of(call)[0] == str(grpc.StatusCode.UNAUTHENTICATED)


def test_a_message_over_the_body_limit_is_refused(strict):
    with tg.InferenceServerClient(strict.grpc) as c:
        code, message = status_of(c.infer, "lenet5-mnist", [image(400)], headers={"x-api-key": "k1"})  # 1.25 MB
        assert code == str(grpc.StatusCode.RESOURCE_EXHAUSTED) and "larger than max" in message
        assert c.infer("lenet5-mnist", [image(300)], headers={"x-api-key": "k1"}).as_numpy("logits").shape == (300, 10)


def test_admission_is_shared_with_http(tiny):
    async def hold_the_slot() -> tuple[httpx.Response, tuple[str, str]]:
        async with httpx.AsyncClient(base_url=tiny.url, timeout=60) as c:
            body = {"prompt": "ROMEO:", "max_tokens": 2000, "seed": 1}
            first = asyncio.ensure_future(c.post("/v1/generate", json=body, headers={"X-Request-Timeout": "60"}))
            for _ in range(400):  # until the generation holds the one slot
                if (await c.get("/v1/models/charlstm-shakespeare")).json()["activity"]["active_generations"]:
                    break
                await asyncio.sleep(0.025)
            with tg.InferenceServerClient(tiny.grpc) as g:
                refused = await asyncio.to_thread(status_of, g.infer, "charlstm-shakespeare.prefill", prefill(1, 3))
            return await first, refused

    first, (code, message) = asyncio.run(hold_the_slot())
    assert first.status_code == 200
    assert code == str(grpc.StatusCode.RESOURCE_EXHAUSTED) and "limit 1" in message


def test_deadlines(tiny):
    expired = ("charlstm-shakespeare", "DEADLINE_EXCEEDED")
    with tg.InferenceServerClient(tiny.grpc) as c:
        started = time.monotonic()
        code, message = status_of(c.infer, "charlstm-shakespeare.prefill", prefill(*SLOW))  # no deadline of its own
        assert code == str(grpc.StatusCode.DEADLINE_EXCEEDED) and "its deadline of 0.3 s" in message
        assert time.monotonic() - started < 3
        before = grpc_calls(tiny).get(expired, 0)
        # The call's own deadline, longer than the server's default (it overrides it, as X-Request-Timeout
        # does) and long enough for the call to reach its handler on a busy machine.
        started = time.monotonic()
        code, _ = status_of(c.infer, "charlstm-shakespeare.prefill", prefill(*SLOW), client_timeout=0.6)
        assert code == str(grpc.StatusCode.DEADLINE_EXCEEDED) and 0.5 < time.monotonic() - started < 3
        for _ in range(100):  # the server records the call once its handler has given up on it
            if grpc_calls(tiny).get(expired, 0) > before:
                break
            time.sleep(0.05)
        assert grpc_calls(tiny)[expired] == before + 1
        assert queue_depth(tiny) == 0  # the slot was released: the next call is admitted
        after = c.infer("charlstm-shakespeare.prefill", prefill(1, 3), client_timeout=30)
        assert after.as_numpy("logits").shape == (1, 65)


def test_sigterm_drains_calls_in_flight_then_exits_0(tmp_path):
    srv = start_server(charlstm_repository(tmp_path / "models"), tmp_path / "server.log",
                       {"DLSERVE_SHUTDOWN_GRACE_S": "60"})  # fmt: skip
    try:
        with tg.InferenceServerClient(srv.grpc) as c, ThreadPoolExecutor(3) as pool:
            reference = c.infer("charlstm-shakespeare.prefill", prefill(*SLOW)).as_numpy("logits")
            calls = [pool.submit(c.infer, "charlstm-shakespeare.prefill", prefill(*SLOW)) for _ in range(3)]
            deadline = time.monotonic() + 30
            while queue_depth(srv) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert queue_depth(srv) == 3
            srv.process.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            # HTTP still serves (not ready): the calls in flight hold the drain as HTTP requests do.
            assert httpx.get(f"{srv.url}/readyz").json()["draining"] is True
            assert not c.is_server_ready() and c.is_server_live()
            late = c.infer("charlstm-shakespeare.prefill", prefill(1, 3))  # still served while draining
            assert late.as_numpy("logits").shape == (1, 65)
            for call in calls:
                np.testing.assert_array_equal(call.result().as_numpy("logits"), reference)
        assert srv.process.wait(timeout=30) == 0
        log = srv.log.read_text()
        assert "SIGTERM: not ready any more; draining" in log and "gRPC stopped" in log
        with tg.InferenceServerClient(srv.grpc) as c:
            assert status_of(c.is_server_live)[0] == str(grpc.StatusCode.UNAVAILABLE)
    finally:
        if srv.process.poll() is None:
            srv.process.kill()
