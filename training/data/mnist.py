"""MNIST from the four original IDX .gz files (LeCun et al. 1998), verified by MD5."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.checksums import DatasetError, verify_file

# Published MD5s of the original gzipped files.
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


@dataclass(frozen=True)
class MnistSplit:
    images: np.ndarray  # (N, 28, 28) uint8, ink is bright on a black background
    labels: np.ndarray  # (N,) int64 in 0..9


def read_idx_images(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != IMAGE_MAGIC:
        raise DatasetError(f"{path}: IDX image magic is {magic}, expected {IMAGE_MAGIC}")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols).copy()


def read_idx_labels(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic != LABEL_MAGIC:
        raise DatasetError(f"{path}: IDX label magic is {magic}, expected {LABEL_MAGIC}")
    return np.frombuffer(data, dtype=np.uint8, offset=8)[:n].astype(np.int64)


def checksums(data_dir: Path) -> dict[str, str]:
    """The MD5 of every file this dataset reads, as recorded in manifests."""
    return {name: f"md5:{md5}" for name, md5 in MD5.items()}


def load_split(data_dir: Path, split: str, verify: bool = True) -> MnistSplit:
    """Read `train` or `t10k` from `<data_dir>/mnist/`, verifying MD5s first."""
    if split not in ("train", "t10k"):
        raise ValueError(f"unknown MNIST split {split!r}; allowed: 'train', 't10k'")
    root = Path(data_dir) / "mnist"
    img_name, lbl_name = f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"
    if verify:
        for name in (img_name, lbl_name):
            verify_file(root / name, MD5[name], "md5")
    images, labels = read_idx_images(root / img_name), read_idx_labels(root / lbl_name)
    if len(images) != len(labels):
        raise DatasetError(f"{root}: {len(images)} images but {len(labels)} labels")
    return MnistSplit(images=images, labels=labels)
