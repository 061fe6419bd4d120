"""Rendering a kustomize overlay with a real kustomize: `kubectl kustomize` (kustomize is built into kubectl), or a
standalone `kustomize`; a missing tool fails the test. And the settings a rendered ConfigMap gives the server.
Shared by the Kubernetes and the KServe manifests' tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from service.settings import Settings


def render(overlay: Path) -> list[dict]:
    if kubectl := shutil.which("kubectl"):
        cmd = [kubectl, "kustomize", str(overlay)]
    elif kustomize := shutil.which("kustomize"):
        cmd = [kustomize, "build", str(overlay)]
    else:
        pytest.fail("neither kubectl (kubectl kustomize) nor kustomize is installed", pytrace=False)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def configmap_settings(config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The server's settings from a ConfigMap's data: every key one the server knows, every value one it accepts."""
    known = {f"DLSERVE_{name.upper()}" for name in Settings.model_fields}
    assert set(config) <= known, f"unknown settings: {sorted(set(config) - known)}"
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    return Settings()  # raises on a value the server would refuse
