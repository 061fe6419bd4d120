"""Execution provider policy: the start-up check (CUDA chosen, CPU fallback with a warning, cuda demanded)."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pytest

from service.runtimes import sessions
from service.runtimes.sessions import CPU, CUDA, PROBE_GRAPH, ProviderUnavailable, startup_provider


class FakeSession:
    def __init__(self, providers: list[str]) -> None:
        self.providers = providers

    def get_providers(self) -> list[str]:
        return self.providers


def fake_onnxruntime(monkeypatch: pytest.MonkeyPatch, available: list[str], obtained: list[str]) -> list[list[str]]:
    """onnxruntime as a GPU build sees it: `available` providers, sessions that get `obtained`."""
    asked: list[list[str]] = []

    def session(path: str, providers: list[str]) -> FakeSession:
        assert path == str(PROBE_GRAPH)
        asked.append(providers)
        return FakeSession(obtained)

    monkeypatch.setattr(sessions.ort, "get_available_providers", lambda: available)
    monkeypatch.setattr(sessions.ort, "InferenceSession", session)
    return asked


def test_probe_graph_runs_on_the_cpu() -> None:
    session = ort.InferenceSession(str(PROBE_GRAPH), providers=[CPU])
    (out,) = session.run(None, {"x": np.array([2.5], np.float32)})
    assert out.tolist() == [2.5] and session.get_providers() == [CPU]


def test_cpu_policy_never_asks_for_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_onnxruntime(monkeypatch, [CUDA, CPU], [CUDA, CPU])
    assert startup_provider("cpu") == CPU
    assert asked == []


@pytest.mark.parametrize("policy", ["auto", "cuda"])
def test_cuda_is_chosen_when_onnxruntime_gives_it(monkeypatch, caplog, policy) -> None:
    asked = fake_onnxruntime(monkeypatch, [CUDA, CPU], [CUDA, CPU])
    with caplog.at_level(logging.INFO, logger="dlserve"):
        assert startup_provider(policy) == CUDA
    assert asked == [[CUDA, CPU]]
    assert f"execution provider: {CUDA}" in caplog.text


def test_auto_falls_back_to_cpu_with_a_warning(monkeypatch, caplog) -> None:
    fake_onnxruntime(monkeypatch, [CUDA, CPU], [CPU])  # a GPU build on a machine without a usable GPU
    with caplog.at_level(logging.INFO, logger="dlserve"):
        assert startup_provider("auto") == CPU
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "CUDA is unavailable, serving on the CPU" in warnings[0].getMessage()
    assert "DLSERVE_PROVIDERS=cuda" in warnings[0].getMessage()


def test_auto_on_a_cpu_build_is_not_a_warning(monkeypatch, caplog) -> None:
    asked = fake_onnxruntime(monkeypatch, [CPU], [CPU])
    with caplog.at_level(logging.INFO, logger="dlserve"):
        assert startup_provider("auto") == CPU
    assert asked == []  # no CUDA provider compiled in: nothing to try
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(("available", "obtained"), [([CUDA, CPU], [CPU]), ([CPU], [CPU])])
def test_cuda_demanded_but_unavailable_refuses(monkeypatch, available, obtained) -> None:
    fake_onnxruntime(monkeypatch, available, obtained)
    with pytest.raises(ProviderUnavailable, match=r"DLSERVE_PROVIDERS=cuda but CUDA is unavailable: .* gave \["):
        startup_provider("cuda")


def test_serve_exits_when_cuda_is_demanded_without_it(monkeypatch, capfd) -> None:
    from service import server

    monkeypatch.setenv("DLSERVE_PROVIDERS", "cuda")
    monkeypatch.setenv("DLSERVE_LOG_JSON", "false")
    fake_onnxruntime(monkeypatch, [CPU], [CPU])
    monkeypatch.setattr(server, "create_app", lambda settings: pytest.fail("the app must not be built"))
    with pytest.raises(SystemExit) as exited:
        server.serve()
    assert exited.value.code == 2
    # configure() sends the dlserve logger to stderr (plain text here)
    assert "ERROR dlserve: not starting: DLSERVE_PROVIDERS=cuda but CUDA is unavailable" in capfd.readouterr().err
