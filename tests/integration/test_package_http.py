"""`dlserve package` end to end on the real server: a BGR, channels-last classifier with a shorter-side resize
and a centre crop, whose predictions equal those of an independent NumPy/Pillow pipeline on varied photos; a
two-input tensor model driven by tritonclient, over HTTP and gRPC (batched alike); models packaged while the
server runs, hot loaded."""

from __future__ import annotations

import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton
from onnx_models import fixed_batch, image_classifier, two_inputs
from PIL import Image, ImageOps
from tests_support import REPO, start_server, stop_server
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration

LABELS = ["apple", "bicycle", "castle", "dolphin", "eagle"]
MEAN, STD, SHORTER, CROP = [0.45, 0.5, 0.55], [0.22, 0.25, 0.28], 40, 32


def dlserve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("packaged")
    image_classifier(root / "bgr.onnx", classes=len(LABELS), layout="nhwc", size=CROP)
    (root / "labels.txt").write_text("\n".join(LABELS) + "\n")
    two_inputs(root / "two.onnx")
    fixed_batch(root / "fixed.onnx")
    models = str(root / "models")
    recipe = ["--resize-shorter", str(SHORTER), "--crop", str(CROP), "--channels", "bgr", "--layout", "nhwc",
              "--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD))]  # fmt: skip
    labels = str(root / "labels.txt")
    r = dlserve("package", "classify", str(root / "bgr.onnx"), "--name", "photos", "--labels", labels, *recipe,
                "--model-dir", models)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = dlserve("package", "tensor", str(root / "two.onnx"), "--name", "pairs", "--model-dir", models)
    assert r.returncode == 0 and "batching: dynamic on the first axis" in r.stdout, r.stderr
    return root


@pytest.fixture(scope="module")
def server(work):
    srv = start_server(work / "models", work / "server.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(server):
    c = triton.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60)
    yield c
    c.close()


def encoded(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def photos() -> dict[str, bytes]:
    """Sizes above and below the resize, both orientations, and the modes and formats photos arrive in."""
    rng = np.random.default_rng(3)

    def noise(h, w, c=3):
        ramp = np.linspace(0, 200, w)[None, :, None]  # a left-to-right ramp: a flip or a shift changes the scores
        return np.clip(rng.normal(0, 40, (h, w, c)) + ramp, 0, 255).astype(np.uint8)

    rgba = Image.fromarray(noise(120, 45, 4))
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 45), (120, 1)).astype(np.uint8)))
    palette = Image.fromarray(noise(40, 50)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    rotated = Image.fromarray(noise(48, 80))
    exif = rotated.getexif()
    exif[0x0112] = 6  # stored sideways: the viewer rotates it 90 degrees clockwise
    return {
        "landscape.png": encoded(Image.fromarray(noise(61, 97)), "PNG"),
        "portrait-alpha.png": encoded(rgba, "PNG"),
        "gray.jpg": encoded(Image.fromarray(noise(64, 64, 1)[..., 0]), "JPEG", quality=90),
        "palette-transparent.png": encoded(palette, "PNG", transparency=0),
        "tiny.png": encoded(Image.fromarray(noise(13, 20)), "PNG"),
        "cmyk.jpg": encoded(Image.fromarray(noise(70, 70)).convert("CMYK"), "JPEG"),
        "rotated.jpg": encoded(rotated, "JPEG", exif=exif),
    }


def reference_row(data: bytes, recipe: dict) -> np.ndarray:
    """The recipe as torchvision-style pipelines apply it, written here from its description alone."""
    img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
    img = img.convert("RGB")
    w, h, n = *img.size, recipe["resize_shorter"]
    size = (n, int(n * h / w)) if w <= h else (int(n * w / h), n)
    img = img.resize(size, Image.Resampling.BILINEAR)
    (cw, ch) = recipe["crop"]
    left, top = (size[0] - cw) // 2, (size[1] - ch) // 2
    x = np.asarray(img.crop((left, top, left + cw, top + ch)), np.float64)[..., ::-1]  # RGB -> BGR
    return ((x / 255 - np.array(recipe["mean"])) / np.array(recipe["std"])).astype(np.float32)  # (H, W, C)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_predictions_equal_an_independent_pipeline(server, work):
    images = photos()
    recipe = {"resize_shorter": SHORTER, "crop": [CROP, CROP], "mean": MEAN, "std": STD}
    x = np.stack([reference_row(data, recipe) for data in images.values()])
    session = ort.InferenceSession(str(work / "bgr.onnx"), providers=["CPUExecutionProvider"])
    expected = softmax(session.run(None, {"pixels": x})[0])
    files = [("files", (name, data, "application/octet-stream")) for name, data in images.items()]
    reply = httpx.post(f"{server.url}/v1/classify", params={"model": "photos", "top_k": 5}, files=files, timeout=60)
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["name"] for r in results] == list(images)
    for probs, result in zip(expected, results, strict=True):
        got = {p["label"]: p["probability"] for p in result["predictions"]}
        np.testing.assert_allclose([got[label] for label in LABELS], probs, atol=1e-5, err_msg=result["name"])
        assert result["predictions"][0]["label"] == LABELS[int(probs.argmax())]
    assert len({r["predictions"][0]["label"] for r in results}) > 1  # the photos are told apart


def test_v2_metadata_tells_a_client_everything_it_must_send(client, work):
    meta = client.get_model_metadata("photos")
    recipe, labels = meta["parameters"]["preprocessing"], meta["parameters"]["labels"]
    assert labels == LABELS and meta["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, 32, 32, 3]}]
    assert (recipe["channels"], recipe["layout"], recipe["resize_shorter"], recipe["crop"]) == (
        "bgr",
        "nhwc",
        40,
        [32, 32],
    )
    images = photos()
    x = np.stack([reference_row(data, recipe) for data in images.values()])  # from the metadata alone
    pixels = triton.InferInput("pixels", list(x.shape), "FP32")
    pixels.set_data_from_numpy(x)
    logits = client.infer("photos", [pixels]).as_numpy("logits")
    session = ort.InferenceSession(str(work / "bgr.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(logits, session.run(None, {"pixels": x})[0], atol=1e-5)


def pairs_request(client, x: np.ndarray, k: np.ndarray, binary: bool = True):
    inputs = [triton.InferInput("x", list(x.shape), "FP32"), triton.InferInput("k", list(k.shape), "INT64")]
    inputs[0].set_data_from_numpy(x, binary_data=binary)
    inputs[1].set_data_from_numpy(k, binary_data=binary)
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("scaled", "total")]
    result = client.infer("pairs", inputs, outputs=outputs)
    return result.as_numpy("scaled"), result.as_numpy("total")


def test_a_two_input_tensor_model_through_tritonclient(client, server):
    meta = client.get_model_metadata("pairs")
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("x", "FP32", [-1, 4]),
        ("k", "INT64", [-1]),
    ]
    assert [(t["name"], t["shape"]) for t in meta["outputs"]] == [("scaled", [-1, 4]), ("total", [-1])]
    for binary in (True, False):
        x, k = np.arange(12, dtype=np.float32).reshape(3, 4), np.array([2, 0, -1])
        scaled, total = pairs_request(client, x, k, binary)
        np.testing.assert_array_equal(scaled, x * k[:, None])
        np.testing.assert_array_equal(total, [6, 22, 38])

    def one(seed: int):  # concurrent requests of assorted sizes: each must get its own rows back
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 6))
        x, k = rng.normal(size=(n, 4)).astype(np.float32), rng.integers(-3, 4, n)
        scaled, total = pairs_request(triton.InferenceServerClient(server.url.removeprefix("http://")), x, k)
        return np.allclose(scaled, x * k[:, None], atol=1e-6) and np.allclose(total, x.sum(1), atol=1e-5)

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(48)))
    models = {m["name"]: m for m in httpx.get(f"{server.url}/v1/models").json()["models"]}
    assert (models["pairs"]["task"], models["pairs"]["engine"]) == ("tensor", "batch")
    with pytest.raises(InferenceServerException, match="every input has the same first dimension") as err:
        pairs_request(client, np.ones((2, 4), np.float32), np.ones(3, np.int64))
    assert err.value.status() == "400"


def test_the_tensor_model_over_grpc_is_batched_as_over_http(server):
    def over_grpc(g: triton_grpc.InferenceServerClient, x: np.ndarray, k: np.ndarray):
        inputs = [triton_grpc.InferInput("x", list(x.shape), "FP32"),
                  triton_grpc.InferInput("k", list(k.shape), "INT64")]  # fmt: skip
        inputs[0].set_data_from_numpy(x)
        inputs[1].set_data_from_numpy(k)
        result = g.infer("pairs", inputs)
        return result.as_numpy("scaled"), result.as_numpy("total")

    def one(seed: int) -> bool:  # concurrent calls of assorted sizes, merged by the batcher: each gets its rows
        rng = np.random.default_rng(100 + seed)
        n = int(rng.integers(1, 6))
        x, k = rng.normal(size=(n, 4)).astype(np.float32), rng.integers(-3, 4, n)
        with triton_grpc.InferenceServerClient(server.grpc) as g:
            got = over_grpc(g, x, k)
        # A client per thread: tritonclient.http's (geventhttpclient) is not to be shared across threads.
        want = pairs_request(triton.InferenceServerClient(server.url.removeprefix("http://")), x, k)
        return all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(32)))
    with triton_grpc.InferenceServerClient(server.grpc) as g, pytest.raises(InferenceServerException) as err:
        over_grpc(g, np.ones((2, 4), np.float32), np.ones(3, np.int64))
    assert err.value.status() == str(grpc.StatusCode.INVALID_ARGUMENT)
    assert "every input has the same first dimension" in err.value.message()


def test_models_packaged_while_the_server_runs_are_hot_loaded(client, work):
    assert not client.is_model_ready("fixed")
    r = dlserve("package", "tensor", str(work / "fixed.onnx"), "--name", "fixed", "--model-dir", str(work / "models"))
    assert r.returncode == 0 and "batching: none: the graph takes a fixed batch of 1" in r.stdout, r.stderr
    client.load_model("fixed")
    assert client.is_model_ready("fixed")
    x = triton.InferInput("x", [1, 3], "FP32")
    x.set_data_from_numpy(np.array([[1, 2, 3]], np.float32))
    np.testing.assert_array_equal(client.infer("fixed", [x]).as_numpy("y"), [[2, 4, 6]])

    squash = ["--resize", "32x32", "--channels", "bgr", "--layout", "nhwc"]
    r = dlserve("package", "classify", str(work / "bgr.onnx"), "--name", "photos", "--labels", str(work / "labels.txt"),
                *squash, "--model-dir", str(work / "models"))  # fmt: skip
    assert r.returncode == 0 and r.stdout.startswith(f"wrote {work / 'models' / 'photos' / '2'}"), r.stderr
    client.load_model("photos")
    meta = client.get_model_metadata("photos")
    assert meta["versions"] == ["2"] and meta["parameters"]["preprocessing"]["resize"] == [32, 32]
    index = {m["name"]: (m["version"], m["state"]) for m in client.get_model_repository_index()}
    assert index == {"photos": ("2", "READY"), "pairs": ("1", "READY"), "fixed": ("1", "READY")}
