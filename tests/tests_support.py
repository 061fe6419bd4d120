"""Test helpers importable by name: the repository paths and a real dlserve server on a loopback port."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from core.model_folders import latest_version

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"


def served_version(name: str) -> int:
    """The version of a committed model that a request naming none gets (the newest that is not opt-in)."""
    return int(latest_version(MODELS / name).name)


def wait_ready(client, timeout_s: float = 120.0) -> None:
    """Wait until an in-process app (a TestClient) has loaded its models: /readyz answers 200, or fail saying why."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"not ready after {timeout_s:.0f} s: {client.get('/readyz').text}")


def free_port(but: int = 0) -> int:
    """A port nothing listens on now (other than `but`, one already handed out)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != but:
            return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    grpc: str = ""  # host:port of its gRPC server; "" when DLSERVE_GRPC_PORT=0


def start_server(
    model_dir: Path, log: Path, env: dict[str, str] | None = None, timeout: float = 60, ready: bool = True
) -> Server:
    """Start `dlserve serve` and wait until /readyz is 200 or, with `ready=False`, until every model has left
    `loading` (for a repository where a model fails and readiness stays 503). gRPC gets a free port of its own
    too (servers started together must not share the default 8001), unless `env` sets DLSERVE_GRPC_PORT."""
    port = free_port()
    full_env = {**os.environ, "DLSERVE_MODEL_DIR": str(model_dir), "DLSERVE_PORT": str(port),
                "DLSERVE_GRPC_PORT": str(free_port(but=port)), **(env or {})}  # fmt: skip
    grpc_port = int(full_env["DLSERVE_GRPC_PORT"])
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(cmd, env=full_env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            probe = httpx.get(f"{url}/readyz", timeout=1)
            states = probe.json()["models"].values()
            if probe.status_code == 200 or (not ready and states and "loading" not in states):
                return Server(url, proc, log, f"127.0.0.1:{grpc_port}" if grpc_port else "")
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server not ready after {timeout}s:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


def grpc_calls(server: Server, method: str = "ModelInfer") -> dict[tuple[str, str], float]:
    """(model, gRPC status) -> how many calls of `method` the server counted, from its /metrics."""
    families = text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)
    endpoint = f"/inference.GRPCInferenceService/{method}"
    return {
        (s.labels["model"], s.labels["status"]): s.value
        for f in families
        if f.name == "dlserve_requests"
        for s in f.samples
        if s.name == "dlserve_requests_total" and s.labels["endpoint"] == endpoint
    }


def queue_depth(server: Server) -> float:
    """Requests queued or running, over every model (admission slots taken), from the server's /metrics."""
    families = text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)
    return sum(s.value for f in families if f.name == "dlserve_queue_depth" for s in f.samples)


def png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    """An image file (PNG unless `fmt` says otherwise) holding `array` (H, W) or (H, W, C) uint8."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG declaring width x height, with a tiny IDAT: opening it must not allocate the pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def lenet_repository(root: Path, versions: tuple[int, ...] = (1,)) -> Path:
    """A model directory holding only lenet5-mnist, with the committed version copied as each of `versions`."""
    for version in versions:
        shutil.copytree(MODELS / "lenet5-mnist" / "1", root / "lenet5-mnist" / str(version))
    return root


def copy_model(root: Path, name: str, source: str = "lenet5-mnist") -> Path:
    """Copy the committed `source` version 1 to `root/name/1` (the manifest renamed); returns the version folder."""
    dest = root / name / "1"
    shutil.copytree(MODELS / source / "1", dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["name"] = name
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def set_graph_sha256(version_dir: Path, graph: str) -> None:
    """Rewrite the manifest's sha256 of `graph` to match its file, so a doctored file passes the checksum."""
    manifest = json.loads((version_dir / "manifest.json").read_text())
    entry = manifest["graphs"][graph]
    entry["sha256"] = hashlib.sha256((version_dir / entry["file"]).read_bytes()).hexdigest()
    (version_dir / "manifest.json").write_text(json.dumps(manifest))


def fail_on_rows(version_dir: Path, graph: str, rows: int) -> None:
    """Rewrite `graph` so that onnxruntime raises at run time whenever its first input has `rows` rows, and
    computes the same outputs otherwise: the input goes through a Reshape to (rows * (1 + hit), ...) and back,
    which cannot hold the tensor when hit (batch == rows) is 1. The manifest's sha256 is updated to match."""
    import onnx  # the train extra's; only these fault tests need it
    from onnx import TensorProto, helper

    manifest = json.loads((version_dir / "manifest.json").read_text())
    path = version_dir / manifest["graphs"][graph]["file"]
    model = onnx.load(str(path))
    g = model.graph
    x, guarded, p = g.input[0].name, g.input[0].name + "__guarded", "fail_on_rows__"
    for node in g.node:
        node.input[:] = [guarded if name == x else name for name in node.input]
    g.initializer.extend(
        helper.make_tensor(p + name, TensorProto.INT64, [1], [value])
        for name, value in (("zero", 0), ("one", 1), ("rows", rows))
    )
    guard = [
        helper.make_node("Shape", [x], [p + "shape"]),
        helper.make_node("Slice", [p + "shape", p + "zero", p + "one"], [p + "batch"]),  # (1,) the row count
        helper.make_node("Equal", [p + "batch", p + "rows"], [p + "hit"]),
        helper.make_node("Cast", [p + "hit"], [p + "hit64"], to=TensorProto.INT64),
        helper.make_node("Add", [p + "hit64", p + "one"], [p + "factor"]),  # 2 when hit, else 1
        helper.make_node("Mul", [p + "batch", p + "factor"], [p + "claimed"]),
        helper.make_node("Shape", [x], [p + "rest"], start=1),
        helper.make_node("Concat", [p + "claimed", p + "rest"], [p + "target"], axis=0),
        helper.make_node("Reshape", [x, p + "target"], [p + "checked"]),  # fails when hit
        helper.make_node("Reshape", [p + "checked", p + "shape"], [guarded]),
    ]
    nodes = guard + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    set_graph_sha256(version_dir, graph)
