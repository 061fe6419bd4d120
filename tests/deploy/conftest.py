"""Fixtures of the deploy tests: the Dockerfile's instructions and stages (static checks), and the private Docker
engine with the stand-in base and the built images (the `container` group), each made once per session."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from containers import CPU_TAG, FIGURES, GPU_TAG, REPO, build, fail, size_mb
from docker_engine import (
    STANDIN_TAG,
    Engine,
    EngineError,
    cache_dir,
    import_image,
    remove_tree,
    standin_rootfs,
    start_engine,
    stop_engine,
)
from dockerfile_parse import DOCKERFILE, instructions, named_stages
from dockerfile_parse import stages as all_stages


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    assert DOCKERFILE.is_file(), f"missing {DOCKERFILE}"
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stages(dockerfile: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    named = named_stages(dockerfile)
    assert set(named) == {"builder", "runtime", "gpu-builder", "gpu"}, f"stages: {list(named)}"
    return named


@pytest.fixture(scope="module")
def runtime_stage(dockerfile: list[tuple[str, str]]) -> list[tuple[str, str]]:
    parts = all_stages(dockerfile)
    assert len(parts) >= 2, "the Dockerfile should be multi-stage (builder + runtime)"
    # The last stage is what `docker build` without --target produces: the CPU image.
    assert parts[-1][0][1].endswith(" AS runtime"), "the default (last) target should be the CPU runtime"
    return parts[-1]


@pytest.fixture(scope="module")
def gpu_stage(stages: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return stages["gpu"]


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    started = time.monotonic()
    try:
        eng = start_engine()
    except EngineError as e:
        pytest.fail(f"the container tests need a Docker engine: {e}", pytrace=False)
    FIGURES["engine_start_s"] = round(time.monotonic() - started, 1)
    try:
        yield eng
    finally:
        stop_engine(eng)
        assert not eng.root.exists(), f"{eng.root} was left behind"
        if FIGURES:
            out = REPO / "test-artifacts" / "container.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(FIGURES, indent=2) + "\n")
            print(f"\ncontainer figures: {json.dumps(FIGURES)}")


@pytest.fixture(scope="session")
def base_image(engine: Engine) -> str:
    started = time.monotonic()
    work = engine.root / "standin"
    work.mkdir()
    try:
        tarball = standin_rootfs(work, cache_dir())
        import_image(engine, tarball, STANDIN_TAG)
    except EngineError as e:
        fail(engine, "could not make the stand-in python:3.11-slim base image", e)
    finally:
        remove_tree(work)
    FIGURES["standin_base_s"] = round(time.monotonic() - started, 1)
    FIGURES["standin_base_mb"] = size_mb(engine, STANDIN_TAG)
    return STANDIN_TAG


@pytest.fixture(scope="session")
def cpu_image(engine: Engine, base_image: str) -> str:
    return build(engine, CPU_TAG, "runtime", {"BASE_IMAGE": base_image})


@pytest.fixture(scope="session")
def gpu_image(engine: Engine, base_image: str) -> str:
    # No CUDA base is reachable: the stand-in (Debian, apt, no GPU libraries) proves the stage's steps.
    return build(engine, GPU_TAG, "gpu", {"GPU_BASE_IMAGE": base_image})
