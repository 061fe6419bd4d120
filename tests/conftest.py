"""Shared fixtures: the data directory, MNIST test digits, and a real dlserve server on a loopback port."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"


def find_data_dir() -> Path:
    env = os.environ.get("DLSERVE_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (candidate / "mnist").is_dir():
            return candidate
    raise RuntimeError("dataset folder not found: set DLSERVE_DATA or provide ../shared/data")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The committed model repository."""
    return MODELS


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return find_data_dir()


@pytest.fixture(scope="session")
def mnist_test(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test digits (N, 28, 28) uint8 and labels, read straight from the IDX files."""
    root = data_dir / "mnist"
    with gzip.open(root / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16)
    with gzip.open(root / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images.reshape(-1, 28, 28), labels.astype(np.int64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path


def start_server(model_dir: Path, log: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Server:
    port = free_port()
    full_env = {**os.environ, "DLSERVE_MODEL_DIR": str(model_dir), "DLSERVE_PORT": str(port), **(env or {})}
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(cmd, env=full_env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Server(url, proc, log)
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


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real service (uvicorn) serving the committed models on a free 127.0.0.1 port."""
    srv = start_server(MODELS, tmp_path_factory.mktemp("server") / "server.log")
    yield srv
    stop_server(srv)
