"""The committed AlexNet-style CIFAR-10 model through the real server: accuracy on real test photos sent as PNG,
photos of every size and mode, EXIF orientation, the v2 protocol reading the recipe from the metadata."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image
from tests_support import MODELS, png

from core.model_folders import latest_version
from training.data import cifar10

pytestmark = pytest.mark.integration
MODEL = {"model": "alexnet-cifar10"}


@pytest.fixture(scope="module")
def cifar_test(data_dir):
    return cifar10.load_split(data_dir, "test")


def classify(client: httpx.Client, files: list[tuple[str, bytes]], **params) -> list[list[dict]]:
    r = client.post(
        "/v1/classify", params={**MODEL, **params}, files=[("files", (n, b, "image/png")) for n, b in files]
    )
    assert r.status_code == 200, r.text
    return [res["predictions"] for res in r.json()["results"]]


def test_accuracy_over_1000_cifar10_test_photos(server, cifar_test):
    predicted = []
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for start in range(0, 1000, 50):
            files = [(f"{i}.png", png(cifar_test.images[i])) for i in range(start, start + 50)]
            predicted += [p[0]["index"] for p in classify(client, files, top_k=1)]
    accuracy = float(np.mean(np.array(predicted) == cifar_test.labels[:1000]))
    print(f"HTTP accuracy over 1000 CIFAR-10 test photos: {accuracy:.4f}")
    assert accuracy >= 0.88


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_photos_of_every_size_and_mode(server, cifar_test):
    photo = Image.fromarray(cifar_test.images[3]).resize((300, 200), Image.Resampling.BICUBIC)
    gray16 = Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257).convert("I;16")
    variants = {
        "large.jpg": encoded(photo, "JPEG", quality=90),
        "tiny.png": encoded(photo.resize((7, 5)), "PNG"),
        "rgba.png": encoded(photo.convert("RGBA"), "PNG"),
        "palette.gif": encoded(photo.convert("P"), "GIF"),
        "gray16.png": encoded(gray16, "PNG"),
        "cmyk.jpg": encoded(photo.convert("CMYK"), "JPEG"),
        "one-bit.bmp": encoded(photo.convert("1"), "BMP"),
        "webp.webp": encoded(photo, "WEBP"),
    }
    with httpx.Client(base_url=server.url, timeout=60) as client:
        results = classify(client, list(variants.items()), top_k=10)
        alone = classify(client, [("a.jpg", variants["large.jpg"])], top_k=10)[0]
    for preds in results:
        assert len(preds) == 10 and abs(sum(p["probability"] for p in preds) - 1) < 1e-4
        assert {p["label"] for p in preds} == set(cifar10.CLASSES)
    assert [p["label"] for p in alone] == [p["label"] for p in results[0]]  # alone or in a batch, the same answer


def test_exif_orientation_is_honoured(server, cifar_test):
    upright = Image.fromarray(cifar_test.images[0]).resize((96, 96), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter left; viewers turn it right
    stored = encoded(upright.transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif.tobytes())
    with httpx.Client(base_url=server.url, timeout=60) as client:
        a, b = classify(client, [("upright.png", encoded(upright, "PNG")), ("phone.png", stored)], top_k=3)
    assert [p["label"] for p in a] == [p["label"] for p in b]
    assert a[0]["probability"] == pytest.approx(b[0]["probability"], abs=1e-5)


def test_v2_reads_the_recipe_from_the_metadata_and_agrees_with_v1(server, cifar_test):
    from core.manifest import ImageRecipe
    from core.preprocessing.recipes import apply

    client = triton.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60)
    meta = client.get_model_metadata("alexnet-cifar10")
    recipe = ImageRecipe(**meta["parameters"]["preprocessing"])
    assert meta["parameters"]["labels"] == list(cifar10.CLASSES) and meta["inputs"][0]["shape"] == [-1, 3, 32, 32]
    x = np.stack([apply(recipe, Image.fromarray(cifar_test.images[i]), str(i)) for i in range(8)]).astype(np.float32)
    inp = triton.InferInput("image", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    logits = client.infer("alexnet-cifar10", [inp]).as_numpy("logits")
    client.close()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        v1 = classify(http, [(f"{i}.png", png(cifar_test.images[i])) for i in range(8)], top_k=1)
    assert logits.argmax(1).tolist() == [p[0]["index"] for p in v1]


def test_the_model_is_listed_batched(server):
    listed = {m["name"]: m for m in httpx.get(f"{server.url}/v1/models").json()["models"]}
    assert listed["alexnet-cifar10"]["task"] == "classify" and listed["alexnet-cifar10"]["status"] == "ready"
    assert listed["alexnet-cifar10"]["engine"] == "batch" and listed["lenet5-mnist"]["default"] is True
    served = json.loads((latest_version(MODELS / "alexnet-cifar10") / "manifest.json").read_text())
    assert listed["alexnet-cifar10"]["quantization"] == served["quantization"]["method"]  # the static int8 copy
    assert listed["lenet5-mnist"]["quantization"] is None and listed["gru-en-de"]["quantization"] is None
