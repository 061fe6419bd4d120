"""Shared fixtures: the data directory, MNIST test digits, and a real dlserve server on a loopback port."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests_support import MODELS, REPO, Server, start_server, stop_server


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


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real service (uvicorn) serving the committed models on a free 127.0.0.1 port."""
    srv = start_server(MODELS, tmp_path_factory.mktemp("server") / "server.log")
    yield srv
    stop_server(srv)
