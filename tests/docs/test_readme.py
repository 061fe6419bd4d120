"""The README's Python client examples, run as written against the real server serving the committed models."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from tests_support import REPO, png

pytestmark = pytest.mark.integration

FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def test_the_client_examples_run_against_the_real_server(tmp_path, server, mnist_test):
    (block,) = [code for code in FENCE.findall((REPO / "README.md").read_text()) if "from service.client" in code]
    images, _ = mnist_test
    (tmp_path / "digit.png").write_bytes(png(images[0]))
    Image.fromarray(255 - images[1]).convert("RGB").save(tmp_path / "other.jpg")
    rng = np.random.default_rng(0)
    for name in ("cat.jpg", "dog.jpg", "beach.png"):
        Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(tmp_path / name)
    # each example's value is printed, so the run shows what the README says it returns
    code = "\n".join(
        f"print(repr({line}))" if line and not line.startswith(("from", "dl =", "for", " ", "#")) else line
        for line in block.replace("http://127.0.0.1:8000", server.url).splitlines()
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Prediction(label='7', index=7" in done.stdout, done.stdout
    assert "model='alexnet-cifar10'" in done.stdout and len(done.stdout) > 300
