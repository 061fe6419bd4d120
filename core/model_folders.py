"""The model repository on disk: `<model_dir>/<name>/<version>/manifest.json`, versions numbered from 1."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationError

from core.manifest import Manifest

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


def version_folders(model_folder: Path) -> list[Path]:
    """The numbered version folders, newest first."""
    versions = [p for p in model_folder.iterdir() if p.is_dir() and p.name.isdigit() and int(p.name) > 0]
    return sorted(versions, key=lambda p: int(p.name), reverse=True)


def latest_version(model_folder: Path) -> Path | None:
    """The version a model serves when no version is named: the first of `served_versions`."""
    return next(iter(served_versions(model_folder)), None)


def served_versions(model_folder: Path) -> list[Path]:
    """The versions startup tries, in order: newest first, leaving out those whose manifest says `opt_in` (unless
    every version does). A manifest that cannot be read counts as not opt-in, so loading it reports why."""
    versions = version_folders(model_folder)
    chosen = [v for v in versions if not _opt_in(v)]
    return chosen or versions


def _opt_in(folder: Path) -> bool:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("opt_in") is True
    except (OSError, ValueError, AttributeError):
        return False


def next_version(model_folder: Path) -> int:
    """The version a new export of this model gets: one past the newest, 1 for a new model."""
    newest = next(iter(version_folders(model_folder)), None) if model_folder.is_dir() else None
    return int(newest.name) + 1 if newest else 1


def check_name(name: str) -> str:
    """A model name as the repository and its URLs take it, or ValueError saying what is allowed."""
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"invalid model name {name!r}: use lower-case letters, digits, '.' and '-', starting with a letter or digit"
        )
    return name


def reason_of(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def read_manifest(folder: Path) -> Manifest:
    path = folder / "manifest.json"
    if not path.is_file():
        raise ValueError(f"{path} is missing")
    try:
        return Manifest.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise ValueError(f"manifest.json is not valid JSON: {e}") from None
    except ValidationError as e:
        raise ValueError(f"manifest.json is invalid: {e.error_count()} error(s): {e.errors()[0]['msg']}") from None
