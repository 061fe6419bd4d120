"""Training never imports the service: every module of training/, imported in a fresh interpreter, leaves
`service` out of sys.modules (the service's own rule, the other way round, is in tests/service)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

IMPORT_ALL = """
import importlib, pkgutil, sys
import training
names = [m.name for m in pkgutil.walk_packages(training.__path__, "training.")]
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m == "service" or m.startswith("service."))
print(len(names), leaked)
"""


def test_no_training_module_imports_the_service():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    count, leaked = result.stdout.split(maxsplit=1)
    assert int(count) >= 30, f"only {count} training modules found"  # the walk really covers the package
    assert leaked.strip() == "[]", f"training imports the service: {leaked}"
