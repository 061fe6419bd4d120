"""Images and containers on the tests' private Docker engine: build, run, wait for health, read logs; the
figures the tests measure (build seconds, sizes) are collected in FIGURES."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from docker_engine import Engine, EngineError, build_image

REPO = Path(__file__).resolve().parents[2]
CPU_TAG, GPU_TAG = "dlserve-test/dlserve:cpu", "dlserve-test/dlserve:gpu"
HEALTHY_TIMEOUT_S = 180
FIGURES: dict[str, float | int | str] = {}


def fail(engine: Engine, message: str, error: Exception | None = None) -> None:
    detail = f"{error}\n" if error else ""
    pytest.fail(f"{message}\n{detail}dockerd log tail:\n{engine.log_tail(15)}", pytrace=False)


def size_mb(engine: Engine, tag: str) -> int:
    return round(int(engine.docker("image", "inspect", "-f", "{{.Size}}", tag).stdout) / 1e6)


def build(engine: Engine, tag: str, target: str, build_args: dict[str, str]) -> str:
    try:
        seconds = build_image(engine, REPO, tag, target, build_args)
    except EngineError as e:
        fail(engine, f"docker build --target {target} failed", e)
    FIGURES[f"{target}_build_s"] = round(seconds, 1)
    FIGURES[f"{target}_image_mb"] = size_mb(engine, tag)
    return tag


def run_container(engine: Engine, image: str, *options: str) -> str:
    # The image's own healthcheck command, probed every 2 s instead of 30 s so the test waits less.
    return engine.docker(
        "run", "-d", "-p", "127.0.0.1::8000", "--health-interval", "2s", *options, image
    ).stdout.strip()


def container_logs(engine: Engine, container: str) -> str:
    out = engine.docker("logs", container, check=False)
    return out.stdout + out.stderr


def container_state(engine: Engine, container: str) -> dict:
    return json.loads(engine.docker("inspect", "-f", "{{json .State}}", container).stdout)


def wait_healthy(engine: Engine, container: str) -> str:
    """Wait for Docker's healthcheck to say healthy; return the base URL of the published port."""
    started = time.monotonic()
    while time.monotonic() - started < HEALTHY_TIMEOUT_S:
        state = container_state(engine, container)
        if not state["Running"]:
            pytest.fail(f"the container exited ({state['ExitCode']}):\n{container_logs(engine, container)[-3000:]}")
        if state.get("Health", {}).get("Status") == "healthy":
            FIGURES.setdefault("healthy_after_s", round(time.monotonic() - started, 1))
            port = engine.docker("port", container, "8000/tcp").stdout.split()[0].rsplit(":", 1)
            assert port[0] == "127.0.0.1", f"published on {port[0]}, not the loopback interface"
            return f"http://127.0.0.1:{port[1]}"
        time.sleep(1)
    pytest.fail(f"not healthy after {HEALTHY_TIMEOUT_S}s:\n{container_logs(engine, container)[-3000:]}")
