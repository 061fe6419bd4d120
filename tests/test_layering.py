"""The layers, each checked in a fresh interpreter importing every module of a package: `core` imports neither
side, the service never imports torch or `training` (its install has neither), training never imports the
service; both share only `core`. The Python client (service/client) imports neither the web framework nor the
model runtime."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests_support import REPO

PROGRAM = """
import importlib, json, pkgutil, sys
package = importlib.import_module({package!r})
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
top = {{name.partition(".")[0] for name in sys.modules}}
print(json.dumps(sorted(top & {{"torch", "training", "service", "core"}})))
"""


def imported_by(package: str) -> set[str]:
    """Which of torch, training, service and core are imported once every module of `package` is."""
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(package=package)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    ("package", "allowed"),
    [("core", {"core"}), ("service", {"service", "core"}), ("training", {"training", "core", "torch"})],
)
def test_imports_stay_in_their_layer(package, allowed):
    assert imported_by(package) <= allowed


def test_the_check_sees_an_import_across_layers():
    # Negative control: the same program run over `training` does see torch.
    assert "torch" in imported_by("training")


CLIENT_PROGRAM = """
import importlib, json, sys
importlib.import_module({module!r})
print(json.dumps(sorted({{name.partition(".")[0] for name in sys.modules}} & set({heavy!r}))))
"""
# What a client script must not pay for: the server's web framework, the model runtime, the gRPC stack.
SERVER_SIDE = {"fastapi", "starlette", "uvicorn", "onnxruntime", "numpy", "grpc", "tritonclient", "PIL", "torch"}


def heavy_imports_of(module: str) -> set[str]:
    program = CLIENT_PROGRAM.format(module=module, heavy=sorted(SERVER_SIDE))
    out = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_client_imports_httpx_and_pydantic_only():
    assert heavy_imports_of("service.client") == set()


def test_the_client_check_sees_the_server_side():
    # Negative control: the app itself imports FastAPI and onnxruntime.
    assert {"fastapi", "onnxruntime"} <= heavy_imports_of("service.app")
