"""The real images, built and run on a private Docker engine (the `container` group; part of `make test`).

A dockerd of its own (tests/deploy/docker_engine.py), a stand-in `python:3.11-slim` base made with debootstrap
(no image registry is reachable here), then the real Dockerfile: the CPU image is built, run and asked over its
published 127.0.0.1 port to classify MNIST digits and translate sentences; the GPU target is built on the same
stand-in base (no CUDA there) to prove its stage builds and that the image falls back to the CPU with a warning,
or refuses to start when DLSERVE_PROVIDERS=cuda demands CUDA. Everything the tests start or write is removed at
the end (the debootstrap tarball stays cached, see docker_engine.cache_dir).

Measured figures (build seconds, image sizes) are printed and written to test-artifacts/container.json.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from containers import FIGURES, REPO, container_logs, container_state, run_container, wait_healthy
from dashboards import dashboard_queries, prometheus_query
from docker_engine import (
    Engine,
)
from tests_support import png

pytestmark = [pytest.mark.container, pytest.mark.slow]

# Answers of the committed models (greedy-free: beam 5, the default), checked through the container.
TRANSLATIONS = {
    ("A man is riding a bike.", "fr"): "Un homme fait du vélo.",
    ("A man is riding a bike.", "de"): "Ein Mann fährt ein Fahrrad.",
    ("Two dogs are playing in the snow.", "fr"): "Deux chiens jouent dans la neige.",
    ("Two dogs are playing in the snow.", "de"): "Zwei Hunde spielen im Schnee.",
}

# --- the CPU image ---------------------------------------------------------------------------------------------------


def test_cpu_image_is_non_root_without_torch_or_compilers(engine: Engine, cpu_image: str) -> None:
    config = json.loads(engine.docker("image", "inspect", "-f", "{{json .Config}}", cpu_image).stdout)
    assert config["User"] == "10001:10001"
    assert "/readyz" in " ".join(config["Healthcheck"]["Test"])
    assert config["Cmd"] == ["dlserve", "serve"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["DLSERVE_MODEL_DIR"] == "/app/models" and env["DLSERVE_HOST"] == "0.0.0.0"
    probe = (
        "import importlib.util as u, shutil, os; "
        "print([m for m in ('torch', 'onnx', 'onnxruntime') if u.find_spec(m)], "
        "[c for c in ('gcc', 'cc', 'g++', 'make') if shutil.which(c)], os.getuid(), "
        "sorted(os.listdir('/app/models')))"
    )
    out = engine.docker("run", "--rm", cpu_image, "python", "-c", probe).stdout.strip()
    models = sorted(p.name for p in (REPO / "models").iterdir() if p.is_dir())
    assert out == f"['onnxruntime'] [] 10001 {models}", out


def test_cpu_image_holds_no_secrets(engine: Engine, cpu_image: str) -> None:
    # No key or credential in the image's environment or in any layer's command (build arguments used by a RUN
    # show in the history), and no VCS data, .env or credential file in its filesystem.
    config = json.loads(engine.docker("image", "inspect", "-f", "{{json .Config}}", cpu_image).stdout)
    history = engine.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", cpu_image).stdout
    assert not [e for e in config["Env"] if any(w in e.split("=")[0] for w in ("KEY", "SECRET", "TOKEN", "PASSWORD"))]
    for marker in ("DLSERVE_API_KEYS", "PIP_INDEX_URL=http", "PIP_CERT=/"):
        assert marker not in history, f"{marker!r} in the image history"
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", history), "a URL with credentials in the image history"
    probe = (
        "import os; names = {'.git', '.env', '.netrc', '.pypirc', 'pip.conf', 'id_rsa', '.dockerconfigjson'}; "
        "paths = [os.path.join(d, n) for top in ('/app', '/opt/venv', '/root', '/home', '/src', '/etc') "
        "for d, subdirs, files in os.walk(top) for n in subdirs + files]; "
        "print([p for p in paths if os.path.basename(p) in names or os.path.basename(p).startswith('.env.') "
        "or p.endswith(('.pem', '.key')) and b'PRIVATE KEY' in open(p, 'rb').read()])"
    )
    out = engine.docker("run", "--rm", "--user", "0", cpu_image, "python", "-c", probe).stdout.strip()
    assert out == "[]", out


@dataclass
class Running:
    container: str
    url: str


@pytest.fixture(scope="module")
def cpu_container(engine: Engine, cpu_image: str) -> Iterator[Running]:
    container = run_container(engine, cpu_image, "--name", "dlserve-ct-cpu")
    yield Running(container, wait_healthy(engine, container))
    engine.docker("rm", "-f", container, check=False)


def test_cpu_container_classifies_and_translates(cpu_container: Running, mnist_test) -> None:
    images, labels = mnist_test
    with httpx.Client(base_url=cpu_container.url, timeout=60) as client:
        assert client.get("/readyz").json()["ready"] is True
        files = [("files", (f"digit{i}.png", png(images[i]), "image/png")) for i in range(12)]
        r = client.post("/v1/classify", files=files)
        assert r.status_code == 200, r.text
        predicted = [int(result["predictions"][0]["label"]) for result in r.json()["results"]]
        assert predicted == labels[:12].tolist()
        for (text, target), expected in TRANSLATIONS.items():
            r = client.post("/v1/translate", json={"text": text, "target": target})
            assert r.status_code == 200, r.text
            assert r.json()["translations"][0]["text"] == expected, (text, target)
        providers = {m["name"]: m["provider"] for m in client.get("/v1/models").json()["models"]}
        assert providers["lenet5-mnist"] == providers["gru-en-fr"] == "CPUExecutionProvider"
        metrics = client.get("/metrics").text
        assert 'dlserve_requests_total{endpoint="/v1/classify",model="lenet5-mnist",status="200"} 1.0' in metrics


def _traffic(client: httpx.Client, digit: bytes, seconds: float) -> None:
    """A little of everything the dashboard shows, for `seconds`: classify, translate, generate, a 422."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert client.post("/v1/classify", files=[("files", ("d.png", digit, "image/png"))]).status_code == 200
        assert client.post("/v1/translate", json={"text": "A dog runs.", "beam_size": 2}).status_code == 200
        assert client.post("/v1/generate", json={"prompt": "ROMEO:", "max_tokens": 8}).status_code == 200
        assert client.post("/v1/translate", json={"text": " "}).status_code == 422
        time.sleep(0.2)


def test_dashboard_queries_answer_from_a_real_prometheus(engine: Engine, cpu_container: Running, mnist_test) -> None:
    """Debian's Prometheus scrapes the container's /metrics; every dashboard query must return series."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: run `make system-deps` (apt-get install prometheus)", pytrace=False)
    target = cpu_container.url.removeprefix("http://")
    config = engine.root / "prometheus.yml"
    scrape = {"job_name": "dlserve", "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
    config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": [scrape]}))  # YAML too
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = engine.root / "prometheus.log"
    cmd = [binary, f"--config.file={config}", f"--storage.tsdb.path={engine.root / 'prometheus-data'}",
           f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api/v1/query"
    try:
        with httpx.Client(base_url=cpu_container.url, timeout=60) as client:
            _traffic(client, png(mnist_test[0][0]), seconds=8)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # at least 8 scrapes of the target in the last minute
            with contextlib.suppress(httpx.HTTPError):
                result = httpx.get(api, params={"query": 'count_over_time(up{job="dlserve"}[1m])'}).json()
                if result["data"]["result"] and float(result["data"]["result"][0]["value"][1]) >= 8:
                    break
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(1)
        else:
            pytest.fail(f"Prometheus did not scrape {target}:\n{log.read_text()[-3000:]}")
        empty = []
        for panel, expr in dashboard_queries():
            answer = httpx.get(api, params={"query": prometheus_query(expr)}).json()
            assert answer["status"] == "success", (panel, expr, answer)
            if not answer["data"]["result"]:
                empty.append(f"{panel}: {expr}")
        assert not empty, "dashboard queries without data:\n" + "\n".join(empty)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_cpu_container_stops_gracefully(engine: Engine, cpu_container: Running) -> None:
    started = time.monotonic()
    engine.docker("stop", "-t", "40", cpu_container.container, timeout=60)  # SIGTERM: drain, then exit 0
    FIGURES["stop_s"] = round(time.monotonic() - started, 1)
    state = container_state(engine, cpu_container.container)
    assert state["ExitCode"] == 0, container_logs(engine, cpu_container.container)[-3000:]
    assert "SIGTERM: not ready any more" in container_logs(engine, cpu_container.container)


def test_cpu_container_settings_and_mounted_models(engine: Engine, cpu_image: str, mnist_test) -> None:
    """DLSERVE_ variables configure the container; a read-only volume replaces the baked-in models."""
    images, labels = mnist_test
    mounted = engine.root / "mounted-models"
    shutil.copytree(REPO / "models" / "lenet5-mnist" / "1", mounted / "lenet5-mnist" / "7")
    for folder in (mounted, *mounted.rglob("*")):
        folder.chmod(0o755 if folder.is_dir() else 0o644)  # readable by the container's uid 10001
    container = run_container(
        engine, cpu_image, "-v", f"{mounted}:/app/models:ro", "-e", "DLSERVE_MAX_IMAGES_PER_REQUEST=2",
        "-e", "DLSERVE_API_KEYS=ct-key",
    )  # fmt: skip
    url = wait_healthy(engine, container)
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": "Bearer ct-key"}) as client:
        listed = client.get("/v1/models").json()["models"]
        assert [(m["name"], m["version"], m["status"]) for m in listed] == [("lenet5-mnist", 7, "ready")]
        encoded = [base64.b64encode(png(images[i])).decode() for i in range(3)]
        r = client.post("/v1/classify", json={"images": encoded})
        assert r.status_code == 422 and "3 images sent; at most 2 per request" in r.json()["detail"], r.text
        files = [("files", ("d0.png", png(images[0]), "image/png"))]
        r = client.post("/v1/classify", files=files)
        assert r.status_code == 200 and r.json()["results"][0]["predictions"][0]["label"] == str(labels[0])
        assert httpx.post(f"{url}/v1/classify", files=files).status_code == 401  # no key
    engine.docker("rm", "-f", container)


# --- the GPU target, on a machine without a GPU -------------------------------------------------------------------


def test_gpu_target_falls_back_to_cpu_with_a_warning(engine: Engine, gpu_image: str) -> None:
    out = engine.docker("run", "--rm", gpu_image, "python", "-c", "import onnxruntime as o; print(o.get_device())")
    assert out.stdout.strip() == "GPU", "the GPU image should carry onnxruntime-gpu"
    container = run_container(engine, gpu_image)
    url = wait_healthy(engine, container)
    providers = {m["name"]: m["provider"] for m in httpx.get(f"{url}/v1/models", timeout=30).json()["models"]}
    assert set(providers.values()) == {"CPUExecutionProvider"}, providers
    assert "CUDA is unavailable, serving on the CPU" in container_logs(engine, container)
    engine.docker("rm", "-f", container)


def test_gpu_target_refuses_to_start_when_cuda_is_demanded(engine: Engine, gpu_image: str) -> None:
    container = run_container(engine, gpu_image, "-e", "DLSERVE_PROVIDERS=cuda")
    exit_code = engine.docker("wait", container, timeout=120).stdout.strip()
    logs = container_logs(engine, container)
    assert exit_code == "2", logs[-3000:]
    assert "not starting: DLSERVE_PROVIDERS=cuda but CUDA is unavailable" in logs
    engine.docker("rm", container)
