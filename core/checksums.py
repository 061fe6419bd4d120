"""File checksums: the sha256 of every graph in a manifest, and the published checksums of the datasets."""

from __future__ import annotations

import hashlib
from pathlib import Path


class DatasetError(RuntimeError):
    """A dataset file is missing or does not match its published checksum."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def verify_file(path: Path, expected: str, algorithm: str) -> None:
    """Raise DatasetError naming the file and the expected checksum when it is missing or differs."""
    if not path.is_file():
        raise DatasetError(f"missing dataset file {path} (expected {algorithm} {expected})")
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise DatasetError(f"corrupt dataset file {path}: {algorithm} is {actual}, expected {expected}")
