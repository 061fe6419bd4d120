"""Open Inference Protocol conformance: NVIDIA's own client (tritonclient[http]) drives the real server."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tests_support import MODELS, png, served_version
from tritonclient.utils import InferenceServerException

from core.decoding.sampling import softmax
from core.model_folders import latest_version
from core.preprocessing.digits import mnist_digit

pytestmark = pytest.mark.integration

LENET_VERSION = str(served_version("lenet5-mnist"))
LENET = json.loads((MODELS / "lenet5-mnist" / LENET_VERSION / "manifest.json").read_text())


@pytest.fixture(scope="module")
def client(server):
    c = triton.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60)
    yield c
    c.close()


def preprocessed(digits: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32: the model's input, as /v1/classify prepares it."""
    pre = LENET["preprocessing"]
    rows = [
        mnist_digit(d.astype(np.float32) / 255, f"{i}", pre["input_size"], pre["fit_size"])
        for i, d in enumerate(digits)
    ]
    return ((np.stack(rows) - pre["mean"]) / pre["std"]).astype(np.float32)[:, None]


def test_server_health_and_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "dlserve" and "binary_tensor_data" in meta["extensions"]
    assert client.is_model_ready("lenet5-mnist") and client.is_model_ready("gru-en-fr.encoder")
    assert client.get_model_metadata("lenet5-mnist") == {
        "name": "lenet5-mnist",
        "versions": [LENET_VERSION],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 28, 28]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}],
        "parameters": {  # what to send, read from the manifest: a client needs no constants of its own
            "preprocessing": {"kind": "mnist-digit", "input_size": 28, "fit_size": 20, "mean": 0.1307,
                              "std": 0.3081, "ink": "light-on-dark"},
            "labels": [str(i) for i in range(10)],
        },
    }  # fmt: skip
    encoder = client.get_model_metadata("captioner-flickr8k.encoder")
    assert encoder["parameters"]["preprocessing"]["kind"] == "photo"
    assert encoder["parameters"]["preprocessing"]["crop"] == 112
    served = latest_version(MODELS / "charlstm-shakespeare").name  # the newest version that is not opt-in
    step = client.get_model_metadata("charlstm-shakespeare.step", model_version=served)
    assert "parameters" not in step  # token ids in, nothing to prepare
    assert [(t["name"], t["datatype"], t["shape"]) for t in step["inputs"]] == [
        ("tokens", "INT64", [-1]),
        ("h", "FP32", [2, -1, 512]),
        ("c", "FP32", [2, -1, 512]),
    ]
    index = {m["name"]: m for m in client.get_model_repository_index()}
    served = latest_version(MODELS / "gru-en-de").name
    assert index["gru-en-de"] == {"name": "gru-en-de", "version": served, "state": "READY", "reason": ""}


@pytest.mark.parametrize("binary", [True, False])
def test_lenet_infer_equals_the_typed_endpoint(client, server, mnist_test, binary):
    images, labels = mnist_test
    digits = images[:16]
    x = preprocessed(digits)
    inp = triton.InferInput("image", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = triton.InferRequestedOutput("logits", binary_data=binary)
    result = client.infer("lenet5-mnist", [inp], outputs=[out], request_id="digits-16")
    logits = result.as_numpy("logits")
    assert logits.shape == (16, 10) and logits.dtype == np.float32
    assert result.get_response()["id"] == "digits-16" and result.get_response()["model_version"] == LENET_VERSION
    files = [("files", (f"{i}.png", png(d), "image/png")) for i, d in enumerate(digits)]
    typed = httpx.post(f"{server.url}/v1/classify", params={"top_k": 10}, files=files, timeout=60).json()
    typed_probs = np.zeros((16, 10))
    for i, res in enumerate(typed["results"]):
        for p in res["predictions"]:
            typed_probs[i, p["index"]] = p["probability"]
    np.testing.assert_allclose(softmax(logits), typed_probs, atol=1e-5)
    assert (logits.argmax(1) == labels[:16]).mean() >= 15 / 16


def test_default_request_is_binary_both_ways(client):
    # With no outputs named, tritonclient asks for every output in binary (binary_data_output).
    x = np.zeros((3, 1, 28, 28), np.float32)
    inp = triton.InferInput("image", [3, 1, 28, 28], "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer("lenet5-mnist", [inp], model_version=LENET_VERSION)
    assert result.get_response()["outputs"][0]["parameters"] == {"binary_data_size": 3 * 10 * 4}
    logits = result.as_numpy("logits")
    assert logits.shape == (3, 10) and np.allclose(logits, logits[0])


def test_encoder_graph_of_a_translator(client):
    tokens = np.array([[5, 17, 42, 3], [8, 9, 3, 0]], np.int64)
    inputs = [triton.InferInput("tokens", [2, 4], "INT64"), triton.InferInput("lengths", [2], "INT64")]
    inputs[0].set_data_from_numpy(tokens)
    inputs[1].set_data_from_numpy(np.array([4, 3], np.int64))
    outputs = [triton.InferRequestedOutput("memory"), triton.InferRequestedOutput("mask", binary_data=False)]
    result = client.infer("gru-en-fr.encoder", inputs, outputs=outputs)
    assert result.as_numpy("memory").shape == (2, 4, 512)
    np.testing.assert_array_equal(result.as_numpy("mask"), [[1, 1, 1, 1], [1, 1, 1, 0]])
    assert result.as_numpy("state") is None  # not asked for


def test_errors_reach_the_client_with_status_and_message(client):
    bad = triton.InferInput("image", [1, 28, 28], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(InferenceServerException) as err:
        client.infer("lenet5-mnist", [bad])
    assert err.value.status() == "400"
    assert "input 'image' has shape [1, 28, 28]; model 'lenet5-mnist' takes [-1, 1, 28, 28]" in err.value.message()
    wrong_type = triton.InferInput("image", [1, 1, 28, 28], "FP64")
    wrong_type.set_data_from_numpy(np.zeros((1, 1, 28, 28), np.float64))
    with pytest.raises(InferenceServerException, match="input 'image' is FP64; model 'lenet5-mnist' takes FP32"):
        client.infer("lenet5-mnist", [wrong_type])
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata("resnet50")
    assert err.value.status() == "404" and "model 'resnet50' not found" in err.value.message()
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata("lenet5-mnist", model_version="7")
    assert err.value.status() == "404" and f"it serves version {LENET_VERSION}" in err.value.message()
    assert not client.is_model_ready("lenet5-mnist", model_version="7")
