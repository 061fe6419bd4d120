"""The serving engine through real HTTP: batching on equals off (the reference: no batching, NumPy decoder
state), 429 when full, 504 past deadlines, metrics."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests_support import MODELS, png, start_server, stop_server

from core.model_folders import latest_version
from training.data import flickr8k

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def unbatched(tmp_path_factory):
    srv = start_server(
        MODELS,
        tmp_path_factory.mktemp("unbatched") / "server.log",
        {"DLSERVE_BATCHING": "false", "DLSERVE_DEVICE_STATE": "true"},  # the batched server keeps NumPy state
    )
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def tiny_queue(tmp_path_factory):
    srv = start_server(MODELS, tmp_path_factory.mktemp("tiny") / "server.log", {"DLSERVE_MAX_QUEUE": "1"})
    yield srv
    stop_server(srv)


async def concurrent_posts(url: str, path: str, bodies: list[dict]) -> list[dict]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        responses = await asyncio.gather(*(client.post(path, json=b) for b in bodies))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return [r.json() for r in responses]


def test_generation_identical_with_batching_on_and_off(server, unbatched):
    prompts = ["ROMEO:", "JULIET:\n", "KING HENRY", "O", "First Citizen:", "ROMEO:"]
    bodies = [{"prompt": p, "max_tokens": 120, "seed": s, "temperature": 0.9} for s, p in enumerate(prompts)]
    on = asyncio.run(concurrent_posts(server.url, "/v1/generate", bodies))
    off = asyncio.run(concurrent_posts(unbatched.url, "/v1/generate", bodies))
    assert [r["text"] for r in on] == [r["text"] for r in off]
    assert len({r["text"] for r in on}) == len(bodies)


def test_translation_identical_with_batching_on_and_off(server, unbatched):
    texts = ["A man is riding a bike.", "Two young children are playing with a ball on the grass.", "A dog runs.",
             "A woman in a red dress is singing on a stage while a band plays behind her."]  # fmt: skip
    bodies = [{"text": t, "target": tgt, "beam_size": b} for t in texts for tgt, b in (("fr", 5), ("de", 3))]
    on = asyncio.run(concurrent_posts(server.url, "/v1/translate", bodies))
    off = asyncio.run(concurrent_posts(unbatched.url, "/v1/translate", bodies))
    assert [r["translations"][0]["text"] for r in on] == [r["translations"][0]["text"] for r in off]
    for a, b in zip(on, off, strict=True):
        assert a["translations"][0]["score"] == pytest.approx(b["translations"][0]["score"], abs=1e-4)


def test_classification_identical_with_batching_on_and_off(server, unbatched, mnist_test):
    images, _ = mnist_test

    async def run(url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            rs = await asyncio.gather(*(c.post("/v1/classify?top_k=3", files=[("files", ("d.png", png(images[i])))])
                                        for i in range(32)))  # fmt: skip
        return [r.json()["results"][0]["predictions"] for r in rs]

    on, off = asyncio.run(run(server.url)), asyncio.run(run(unbatched.url))
    assert [[p["label"] for p in r] for r in on] == [[p["label"] for p in r] for r in off]
    np.testing.assert_allclose([r[0]["probability"] for r in on], [r[0]["probability"] for r in off], atol=1e-5)


def test_photo_classification_identical_with_batching_on_and_off(server, unbatched, data_dir):
    # The served CIFAR-10 version is a static int8 copy: fixed activation scales, so each photo's result is its
    # own whatever it is batched with (a dynamic copy would not be, which is why those are opt-in).
    with np.load(data_dir / "cifar10" / "cifar10.npz", allow_pickle=False) as npz:
        photos = npz["x_test"][:32]

    async def run(url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            rs = await asyncio.gather(*(c.post("/v1/classify?model=alexnet-cifar10&top_k=3",
                                               files=[("files", ("p.png", png(p)))]) for p in photos))  # fmt: skip
        return [r.json() for r in rs]

    on, off = asyncio.run(run(server.url)), asyncio.run(run(unbatched.url))
    assert {r["version"] for r in on} == {int(latest_version(MODELS / "alexnet-cifar10").name)}
    assert [r["results"][0]["predictions"] for r in on] == [r["results"][0]["predictions"] for r in off]


def test_v2_logits_identical_with_batching_on_and_off_while_typed_requests_share_the_batches(
    server, unbatched, mnist_test
):
    images, _ = mnist_test
    x = ((images[:24, None] / 255.0 - 0.1307) / 0.3081).astype(np.float32)

    async def run(url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:

            def tensor(i, n):
                return {
                    "name": "image",
                    "shape": [n, 1, 28, 28],
                    "datatype": "FP32",
                    "data": x[i : i + n].ravel().tolist(),
                }

            spans = ((0, 1), (1, 3), (4, 1), (5, 8), (13, 2), (15, 9))
            v2 = [c.post("/v2/models/lenet5-mnist/infer", json={"inputs": [tensor(i, n)]}) for i, n in spans]
            typed = [c.post("/v1/classify", files=[("files", ("d.png", png(images[i])))]) for i in range(12)]
            rs = await asyncio.gather(*v2, *typed)
        assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
        logits = np.concatenate([np.reshape(r.json()["outputs"][0]["data"], (-1, 10)) for r in rs[: len(v2)]])
        return logits, [r.json()["results"][0]["predictions"][0]["label"] for r in rs[len(v2) :]]

    (on, on_labels), (off, off_labels) = asyncio.run(run(server.url)), asyncio.run(run(unbatched.url))
    assert on.shape == (24, 10)
    np.testing.assert_allclose(on, off, atol=1e-5)
    assert on_labels == off_labels == [str(y) for y in mnist_test[1][:12]]


def test_captions_identical_with_batching_on_and_off(server, unbatched, data_dir):
    names = flickr8k.load_split(data_dir, "test").names[20:32]
    photos = [(flickr8k.root(data_dir) / "images" / n).read_bytes() for n in names]

    async def run(url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            rs = await asyncio.gather(
                *(c.post("/v1/caption", params={"beam_size": b}, files=[("files", ("p.jpg", p))])
                  for p in photos for b in (1, 3))
            )  # fmt: skip
        return [r.json()["results"][0] for r in rs]

    on, off = asyncio.run(run(server.url)), asyncio.run(run(unbatched.url))
    assert [r["caption"] for r in on] == [r["caption"] for r in off]
    np.testing.assert_allclose([r["score"] for r in on], [r["score"] for r in off], atol=1e-4)


def test_full_queue_gets_429_with_retry_after(tiny_queue):
    async def main():
        async with httpx.AsyncClient(base_url=tiny_queue.url, timeout=60) as c:
            long = {"prompt": "ROMEO:", "max_tokens": 2000, "seed": 1}
            first = asyncio.ensure_future(c.post("/v1/generate", json=long))
            for _ in range(400):  # until the first holds the one slot (a fixed sleep raced on slow machines)
                info = (await c.get("/v1/models/charlstm-shakespeare")).json()
                if info["activity"]["active_generations"] >= 1:
                    break
                await asyncio.sleep(0.025)
            second = await c.post("/v1/generate", json={"prompt": "O", "max_tokens": 5})
            return second, await first

    second, first = asyncio.run(main())
    assert first.status_code == 200
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert "limit 1" in second.json()["detail"]


def test_deadline_gives_504_and_drops_the_work(server):
    before = httpx.get(f"{server.url}/v1/models/charlstm-shakespeare").json()["activity"]["generated_tokens"]
    r = httpx.post(
        f"{server.url}/v1/generate",
        json={"prompt": "ROMEO:", "max_tokens": 2000, "seed": 1},
        headers={"X-Request-Timeout": "0.05"},
        timeout=30,
    )
    assert r.status_code == 504 and "deadline of 0.05 s" in r.json()["detail"]
    for _ in range(100):  # the dropped work leaves before its next step
        act = httpx.get(f"{server.url}/v1/models/charlstm-shakespeare").json()["activity"]
        if act["active_generations"] == 0:
            break
        time.sleep(0.05)
    assert act["active_generations"] == 0 and act["generated_tokens"] - before < 2000
    bad = httpx.post(f"{server.url}/v1/generate", json={"prompt": "O"}, headers={"X-Request-Timeout": "soon"})
    assert bad.status_code == 422 and "X-Request-Timeout" in bad.json()["detail"]


def test_metrics_count_known_traffic(unbatched):
    for _ in range(3):
        assert httpx.post(f"{unbatched.url}/v1/translate", json={"text": "A dog.", "target": "fr"}).status_code == 200
    httpx.post(f"{unbatched.url}/v1/translate", json={"text": " ", "target": "fr"})
    stream = {"prompt": "O", "max_tokens": 7, "seed": 3, "stream": True}
    with httpx.stream("POST", f"{unbatched.url}/v1/generate", json=stream) as r:
        r.read()
    text = httpx.get(f"{unbatched.url}/metrics").text
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    ok = ("dlserve_requests_total", (("endpoint", "/v1/translate"), ("model", "gru-en-fr"), ("status", "200")))
    assert samples[ok] >= 3
    bad = ("dlserve_requests_total", (("endpoint", "/v1/translate"), ("model", "-"), ("status", "422")))
    assert samples[bad] >= 1
    assert samples[("dlserve_generated_tokens_total", (("model", "charlstm-shakespeare"),))] >= 7
    assert samples[("dlserve_time_to_first_token_seconds_count", (("model", "charlstm-shakespeare"),))] >= 1
    assert any(k[0] == "dlserve_model_status" and ("status", "ready") in k[1] for k in samples)
