"""Test helpers importable by name: the repository paths and a real dlserve server on a loopback port."""

from __future__ import annotations

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

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"


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
