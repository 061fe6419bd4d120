"""Helpers for the static container-file checks: reading the Dockerfile's instructions and stages, and running
the linters and renderers with a clean environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
TOOL_TIMEOUT_S = 120


def run(args: list[str | Path], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    # COMPOSE_* variables (COMPOSE_FILE, COMPOSE_PROFILES, ...) from the caller's shell would change what is rendered.
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMPOSE_")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
    )


def instructions(text: str) -> list[tuple[str, str]]:
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


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Instructions per build stage (each starts at its FROM); instructions before the first FROM are dropped."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def strip_flags(args: str) -> str:
    """Drop leading `--flag=value` options (HEALTHCHECK --interval=..., COPY --from=..., RUN --mount=...)."""
    return re.sub(r"^(?:--[\w-]+(?:=\S*)?\s+)*", "", args)


def named_stages(instructions: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Stages by their `FROM ... AS name`."""
    named = {}
    for stage in stages(instructions):
        words = stage[0][1].split()
        assert len(words) == 3 and words[1].upper() == "AS", f"unnamed stage: FROM {stage[0][1]}"
        named[words[2]] = stage
    return named


def healthcheck_command(runtime_stage: list[tuple[str, str]]) -> list[str]:
    checks = [args for keyword, args in runtime_stage if keyword == "HEALTHCHECK"]
    assert len(checks) == 1, f"expected one HEALTHCHECK in the runtime stage, found {checks}"
    command = strip_flags(checks[0])
    assert command.startswith("CMD "), f"HEALTHCHECK should run a command: {checks[0]}"
    exec_form = command.removeprefix("CMD ").strip()
    assert exec_form.startswith("["), "HEALTHCHECK CMD should use the exec (JSON) form"
    return json.loads(exec_form)
