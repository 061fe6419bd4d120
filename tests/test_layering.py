"""The layers, each checked in a fresh interpreter importing every module of a package: `core` imports neither
side, the service never imports torch or `training` (its install has neither), training never imports the
service; both share only `core`."""

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
