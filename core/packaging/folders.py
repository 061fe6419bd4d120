"""Where a packaged model goes, and writing it there all at once: the version folder is assembled and checked
in a hidden staging folder inside the model directory, then renamed into place, so a failure or an interrupt
never leaves a half-written version (the repository ignores names starting with '.')."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.checksums import file_sha256
from core.errors import first_problem
from core.graph_specs import check_reference, cpu_session
from core.manifest import Manifest
from core.model_folders import check_name, next_version, read_manifest
from core.packaging.graph import PackageError, first_line

STAGING_PREFIX = ".package-"


def version_folder(model_dir: Path, name: str, version: int | None) -> Path:
    """`<model_dir>/<name>/<version>`, the next version when none is given; PackageError when the name is
    invalid or the folder exists (a version is never overwritten)."""
    try:
        check_name(name)
    except ValueError as e:
        raise PackageError(str(e)) from None
    folder = model_dir / name
    if model_dir.exists() and not model_dir.is_dir():
        raise PackageError(f"model directory {model_dir} is not a directory")
    if version is None:
        version = next_version(folder)
    elif version < 1:
        raise PackageError(f"version {version} is invalid: versions are numbered from 1")
    dest = folder / str(version)
    if dest.exists():
        raise PackageError(
            f"{dest} already exists: a version is never overwritten; leave --version out to write version "
            f"{next_version(folder)}, or give another"
        )
    return dest


def validated(manifest: dict[str, Any]) -> Manifest:
    try:
        return Manifest.model_validate(manifest)
    except ValidationError as e:
        raise PackageError(f"the manifest would be invalid: {first_problem(e, 'manifest')}") from None


def verify(folder: Path) -> None:
    """What the server checks at load: the manifest, every graph's sha256, the reference pair."""
    try:
        manifest = read_manifest(folder)
        for key, graph in manifest.graphs.items():
            if file_sha256(folder / graph.file) != graph.sha256:
                raise ValueError(f"graph {key!r} differs from the original (was it changed meanwhile?)")
        session = cpu_session(folder / manifest.graphs[manifest.reference.graph].file)
        check_reference(session, manifest.reference)
    except Exception as e:  # onnxruntime's errors included: whatever fails here would fail the server's load
        raise PackageError(f"the packaged copy fails the checks the server makes: {first_line(e)}") from None


def write_version(dest: Path, graph: Path, graph_file: str, manifest: dict[str, Any]) -> None:
    """Copy `graph` as `graph_file` beside `manifest` into `dest`, all at once."""
    validated(manifest)
    model_dir = dest.parent.parent
    created = [p for p in (model_dir, dest.parent) if not p.exists()]
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f"{STAGING_PREFIX}{dest.parent.name}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        shutil.copyfile(graph, staging / graph_file)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        verify(staging)
        dest.parent.mkdir(exist_ok=True)
        if dest.exists():  # written by someone else meanwhile; rename would replace an empty folder
            raise PackageError(f"{dest} appeared while packaging: a version is never overwritten")
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):  # not empty: something else was put there meanwhile
                folder.rmdir()
        raise
