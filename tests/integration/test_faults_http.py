"""Fault injection on the real server: broken models at startup, and onnxruntime failing at run time.

Startup: a corrupt graph (its checksum updated, so onnxruntime itself refuses it), a wrong checksum, a missing
graph file and a model folder without a version are each `failed` with their reason while a good model serves;
readiness follows DLSERVE_READINESS. Run time: graphs rewritten to raise inside onnxruntime for one batch size
(`tests_support.fail_on_rows`) fail only the request whose own rows make them fail (500 with its request id,
logged with the traceback); the next request, and requests that merely shared a failed batch or decoder step,
succeed.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests_support import copy_model, fail_on_rows, png, set_graph_sha256, start_server, stop_server

pytestmark = pytest.mark.integration

BROKEN = {  # model -> the start of its reason in /v1/models
    "corrupt": "InvalidProtobuf: [ONNXRuntimeError]",
    "wrong-checksum": "ArtifactError: graph 'model': model.onnx has sha256",
    "missing-file": "ArtifactError: graph 'model': file model.onnx is missing",
    "hollow": "ValueError: no numbered version folder in",
}


def broken_repository(root: Path) -> Path:
    copy_model(root, "lenet5-mnist")
    corrupt = copy_model(root, "corrupt")
    (corrupt / "model.onnx").write_bytes((corrupt / "model.onnx").read_bytes()[:5000])
    set_graph_sha256(corrupt, "model")
    wrong = copy_model(root, "wrong-checksum")
    manifest = json.loads((wrong / "manifest.json").read_text())
    manifest["graphs"]["model"]["sha256"] = "0" * 64
    (wrong / "manifest.json").write_text(json.dumps(manifest))
    (copy_model(root, "missing-file") / "model.onnx").unlink()
    (root / "hollow").mkdir()
    return root


def png_json(digits: np.ndarray) -> dict:
    return {"images": [base64.b64encode(png(d)).decode() for d in digits]}


def log_records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def broken_models(tmp_path_factory) -> Path:
    return broken_repository(tmp_path_factory.mktemp("broken-models"))


@pytest.mark.parametrize("policy", ["all", "any"])
def test_broken_models_fail_with_their_reason_while_the_others_serve(broken_models, mnist_test, tmp_path, policy):
    srv = start_server(broken_models, tmp_path / "server.log", {"DLSERVE_READINESS": policy}, ready=False)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
            assert models["lenet5-mnist"]["status"] == "ready" and models["lenet5-mnist"]["reason"] is None
            for name, reason in BROKEN.items():
                assert models[name]["status"] == "failed" and models[name]["reason"].startswith(reason), models[name]
            ready = client.get("/readyz")
            assert ready.json()["models"] == {"lenet5-mnist": "ready", **dict.fromkeys(BROKEN, "failed")}
            assert ready.status_code == (503 if policy == "all" else 200)
            assert ready.json()["ready"] is (policy == "any")
            images, labels = mnist_test
            r = client.post("/v1/classify", json=png_json(images[:8]), params={"model": "lenet5-mnist"})
            assert r.status_code == 200, r.text
            assert [int(res["predictions"][0]["label"]) for res in r.json()["results"]] == labels[:8].tolist()
            refused = client.post("/v1/classify", json=png_json(images[:1]), params={"model": "corrupt"})
            assert refused.status_code == 503
            assert refused.json()["detail"].startswith("model 'corrupt' is failed: InvalidProtobuf")
        errors = {r["message"] for r in log_records(srv.log) if r["level"] == "error"}
        assert any(m.startswith("model wrong-checksum v1 failed to load: ArtifactError") for m in errors), errors
    finally:
        stop_server(srv)


@pytest.fixture(scope="module")
def fragile(tmp_path_factory):
    """lenet5-mnist failing inside onnxruntime for 7-row batches, charlstm-shakespeare for 3-row decoder steps."""
    root = tmp_path_factory.mktemp("fragile-models")
    fail_on_rows(copy_model(root, "lenet5-mnist"), "model", 7)
    fail_on_rows(copy_model(root, "charlstm-shakespeare", "charlstm-shakespeare"), "step", 3)
    srv = start_server(root, root.parent / "server.log")
    yield srv
    stop_server(srv)


def test_onnxruntime_failing_a_batch_fails_only_that_request(fragile, mnist_test):
    images, labels = mnist_test
    with httpx.Client(base_url=fragile.url, timeout=30) as client:
        r = client.post("/v1/classify", json=png_json(images[:7]), headers={"X-Request-ID": "doomed-batch-1"})
        assert r.status_code == 500
        body = {"error": "internal_error", "detail": "internal server error", "request_id": "doomed-batch-1"}
        assert r.json() == body
        assert r.headers["x-request-id"] == "doomed-batch-1"
        after = client.post("/v1/classify", json=png_json(images[7:13]))  # the next batch (6 rows) is served
        assert after.status_code == 200, after.text
        assert [int(x["predictions"][0]["label"]) for x in after.json()["results"]] == labels[7:13].tolist()
        v2 = client.post(
            "/v2/models/lenet5-mnist/infer",
            json={"inputs": [{"name": "image", "shape": [7, 1, 28, 28], "datatype": "FP32", "data": [0.0] * 7 * 784}]},
            headers={"X-Request-ID": "doomed-tensor-1"},
        )
        # The v2 route runs the graph itself (unbatched) and reports onnxruntime's refusal of the tensors as a 400.
        assert v2.status_code == 400 and v2.headers["x-request-id"] == "doomed-tensor-1"
        assert "could not run on these inputs" in v2.json()["error"] and "cannot be reshaped" in v2.json()["error"]
    records = log_records(fragile.log)
    (failure,) = [r for r in records if r.get("request_id") == "doomed-batch-1" and r["level"] == "error"]
    assert failure["message"] == "unhandled error in request doomed-batch-1"
    assert "onnxruntime" in failure["traceback"] and "cannot be reshaped to the requested shape" in failure["traceback"]
    (access,) = [r for r in records if r.get("request_id") == "doomed-batch-1" and r["logger"] == "dlserve.access"]
    assert access["status"] == 500


def test_a_failed_decoder_step_is_rerun_per_job_and_every_generation_completes(fragile):
    bodies = [{"prompt": "ROMEO:", "max_tokens": 300, "seed": s} for s in range(3)]
    with ThreadPoolExecutor(len(bodies)) as pool:  # 3 generations at once share 3-row steps, which fail
        together = list(pool.map(lambda b: httpx.post(f"{fragile.url}/v1/generate", json=b, timeout=60), bodies))
    assert [r.status_code for r in together] == [200] * 3, [r.text for r in together]
    alone = [httpx.post(f"{fragile.url}/v1/generate", json=b, timeout=60).json()["text"] for b in bodies]
    assert [r.json()["text"] for r in together] == alone  # the per-job reruns took exactly the same steps
    retried = [r for r in log_records(fragile.log) if r["message"].startswith("decoder step failed for 3 jobs")]
    assert retried and "cannot be reshaped to the requested shape" in retried[0]["traceback"]
