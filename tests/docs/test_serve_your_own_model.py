"""The documentation's examples, run as written against a real server: every ```bash and ```python block of
docs/serve-your-own-model.md in order, and the README's v2 client. A ```text block right after a block is its
expected output: each of its lines must match an output line, in order (`...` stands for any text)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from tests_support import REPO, copy_model, png, start_server, stop_server

pytestmark = pytest.mark.integration

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
DOC_ADDRESS = "127.0.0.1:8000"
BASH_PRELUDE = 'set -eo pipefail\ndlserve() { "$DLSERVE_PYTHON" -m service.cli "$@"; }\n'


def examples(path) -> list[tuple[str, str, list[str]]]:
    """(language, code, expected output lines) of each bash and python block."""
    blocks = FENCE.findall(path.read_text())
    found = []
    for i, (language, code) in enumerate(blocks):
        if language in ("bash", "python"):
            follows = blocks[i + 1] if i + 1 < len(blocks) else ("", "")
            expected = follows[1].splitlines() if follows[0] == "text" else []
            found.append((language, code, expected))
    return found


def matches(expected: list[str], output: str) -> bool:
    lines = iter(output.splitlines())
    for want in expected:
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")))
        if not any(pattern.fullmatch(line.rstrip()) for line in lines):
            return False
    return True


def run_block(language: str, code: str, cwd, address: str) -> str:
    code = code.replace(DOC_ADDRESS, address)
    env = {**os.environ, "PYTHONPATH": str(REPO), "DLSERVE_PYTHON": sys.executable,
           "DLSERVE_MODEL_DIR": str(cwd / "models")}  # fmt: skip
    cmd = ["bash", "-c", BASH_PRELUDE + code] if language == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300
    )
    output = done.stdout  # stderr interleaved, as a terminal shows it
    assert done.returncode == 0, f"this {language} block failed:\n{code}\n{output}"
    return output


@pytest.fixture
def server(tmp_path):
    copy_model(tmp_path / "models", "lenet5-mnist")  # a repository that is ready before anything is packaged
    srv = start_server(tmp_path / "models", tmp_path / "server.log")
    yield srv
    stop_server(srv)


def test_the_serve_your_own_model_walkthrough_runs_as_written(tmp_path, server):
    blocks = examples(REPO / "docs" / "serve-your-own-model.md")
    assert len(blocks) >= 7 and sum(1 for *_, expected in blocks if expected) >= 6  # the page still shows them
    address = server.url.removeprefix("http://")
    for language, code, expected in blocks:
        output = run_block(language, code, tmp_path, address)
        assert matches(expected, output), f"expected\n{chr(10).join(expected)}\ngot\n{output}\nfrom\n{code}"
    written = sorted(p.parent.parent.name for p in (tmp_path / "models").glob("*/*/manifest.json"))
    assert written == ["colour-means", "colours", "lenet5-mnist", "scale"]


def test_the_readme_v2_client_reads_the_recipe_from_the_metadata(tmp_path, server, mnist_test):
    (client,) = [
        code for lang, code, _ in examples(REPO / "README.md") if lang == "python" and "get_model_metadata" in code
    ]
    assert "0.1307" not in client and "get_model_metadata" in client  # no constants of its own
    images, labels = mnist_test
    (tmp_path / "digit.png").write_bytes(png(images[0]))
    output = run_block("python", client, tmp_path, server.url.removeprefix("http://"))
    assert output.split() == [str(labels[0])]
