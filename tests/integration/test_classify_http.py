"""The real server (uvicorn on a loopback port) classifying real MNIST test digits sent as PNG over HTTP."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image
from tests_support import png

pytestmark = pytest.mark.integration


def test_accuracy_over_1000_mnist_test_images(server, mnist_test):
    images, labels = mnist_test
    predicted = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for start in range(0, 1000, 50):
            files = [("files", (f"{i}.png", png(images[i]), "image/png")) for i in range(start, start + 50)]
            r = client.post("/v1/classify", params={"top_k": 1}, files=files)
            assert r.status_code == 200, r.text
            predicted += [int(res["predictions"][0]["label"]) for res in r.json()["results"]]
    accuracy = float(np.mean(np.array(predicted) == labels[:1000]))
    print(f"HTTP accuracy over 1000 MNIST test images: {accuracy:.4f}")
    assert accuracy >= 0.99


def test_user_style_photo_over_http(server, mnist_test):
    """Dark ink on white, off-centre, RGB JPEG at 100x100: still read correctly."""
    images, labels = mnist_test
    ink = Image.fromarray(255 - images[7]).resize((64, 64), Image.Resampling.BICUBIC).convert("RGB")
    canvas = Image.new("RGB", (100, 100), (250, 248, 240))
    canvas.paste(ink, (30, 2))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=90)
    r = httpx.post(f"{server.url}/v1/classify", files=[("files", ("photo.jpg", buf.getvalue(), "image/jpeg"))])
    assert r.status_code == 200 and r.json()["results"][0]["predictions"][0]["label"] == str(labels[7])


def test_bad_inputs_then_still_serving(server, mnist_test):
    images, labels = mnist_test
    cases = [
        ({"files": [("files", ("e.png", b"", "image/png"))]}, 422, "e.png: empty upload (0 bytes); send a PNG"),
        ({"files": [("files", ("t.png", png(images[0])[:-40], "image/png"))]}, 422, "t.png: image data is truncated"),
        (
            {"content": b"x" * (11 * 1024 * 1024), "headers": {"content-type": "application/json"}},
            413,
            "request body is 11534336 bytes; the limit is 10485760 bytes",
        ),
        (
            {"content": b"hello", "headers": {"content-type": "text/plain"}},
            415,
            "content type 'text/plain' is not accepted; send multipart/form-data",
        ),
    ]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for kwargs, status, detail in cases:
            r = client.post("/v1/classify", **kwargs)
            assert r.status_code == status, r.text
            assert r.json()["detail"].startswith(detail), r.text
        assert client.post("/v1/classify?model=../etc", files=[("files", ("a.png", b"x"))]).status_code == 404
        r = client.post("/v1/classify", files=[("files", ("ok.png", png(images[0]), "image/png"))])
        assert r.status_code == 200 and r.json()["results"][0]["predictions"][0]["label"] == str(labels[0])
        assert client.get("/readyz").status_code == 200
        assert client.get("/v1/models/lenet5-mnist").json()["provider"] == "CPUExecutionProvider"
