"""CIFAR-10 (Krizhevsky 2009) from one `.npz` of uint8 arrays, each array verified by the sha256 of its bytes.

The zip container stores write times, so the file's own hash changes when it is re-created; the arrays' bytes
do not, and those are what the data README publishes and this reader checks.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.checksums import DatasetError

FILE = "cifar10/cifar10.npz"
ARRAY_SHA256 = {
    "x_train": "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a",
    "y_train": "2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253",
    "x_test": "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04",
    "y_test": "cec8a24a1e92aa2ecaa0bbd3dbfa86bf6cd8759fbd209a832824c8cf0afca9d5",
}
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHAPES = {"train": 50000, "test": 10000}


@dataclass(frozen=True)
class CifarSplit:
    images: np.ndarray  # (N, 32, 32, 3) uint8, RGB, height x width x channel
    labels: np.ndarray  # (N,) int64 in 0..9, indexing CLASSES


def array_sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _read(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"missing dataset file {path} (CIFAR-10 as one .npz; see the data README)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = sorted(set(names) - set(npz.files))
            if missing:
                raise DatasetError(f"corrupt dataset file {path}: no array {missing} (it has {sorted(npz.files)})")
            return {n: npz[n] for n in names}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DatasetError(f"corrupt dataset file {path}: cannot read it as .npz ({e})") from None


def load_split(data_dir: Path, split: str, verify: bool = True) -> CifarSplit:
    """Read `train` or `test` from `<data_dir>/cifar10/cifar10.npz`, checking each array's published sha256."""
    if split not in SHAPES:
        raise ValueError(f"unknown CIFAR-10 split {split!r}; allowed: {sorted(SHAPES)}")
    path = Path(data_dir) / FILE
    xs, ys = f"x_{split}", f"y_{split}"
    arrays = _read(path, (xs, ys))
    if verify:
        for name, a in arrays.items():
            actual = array_sha256(a)
            if actual != ARRAY_SHA256[name]:
                raise DatasetError(
                    f"corrupt dataset file {path}: array {name} has sha256 {actual}, expected {ARRAY_SHA256[name]}"
                )
    x, y = arrays[xs], arrays[ys]
    if x.shape != (SHAPES[split], 32, 32, 3) or x.dtype != np.uint8 or len(y) != len(x):
        raise DatasetError(f"{path}: {xs} is {x.dtype} {x.shape} with {len(y)} labels, expected uint8 (N, 32, 32, 3)")
    return CifarSplit(images=x, labels=y.astype(np.int64))


def checksums() -> dict[str, str]:
    """The sha256 of every array this dataset reads, as recorded in manifests."""
    return {f"{FILE}:{name}": f"sha256:{digest}" for name, digest in ARRAY_SHA256.items()}
