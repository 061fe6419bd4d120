"""Flickr8k: 8,091 photos (stored at 128x128), five captions each, official train/dev/test splits.

Text files are verified by SHA-256; images are decoded once with Pillow into a uint8 array cached under
runs/ (the cache is keyed by the checksum list, so a changed image set never reuses a stale cache).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.checksums import DatasetError, verify_file

SPLITS = {
    "train": "Flickr_8k.trainImages.txt",
    "dev": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
TOKENS = "Flickr8k.token.txt"
SHA256 = {
    TOKENS: "1e1f3a371ba1a1bf742e6930521c037e046b2bf3fcc2390ba8405e0301ed7689",
    "Flickr_8k.trainImages.txt": "e330ddd5156a4c2d2e2b67bc587e70e588f2d132bd8a10dc54dcb71e58115d8e",
    "Flickr_8k.devImages.txt": "18ba829f47f6df1cb830bf7f0506e2ddf333818925299babbd1bbcaf50fdc504",
    "Flickr_8k.testImages.txt": "c0924146c131458ceba45da59670fe9520eadce1e5cafffa16a817672a9b1f17",
}
IMAGES_SHA256 = "bb7d7e9c017655e2f036257b01acb12f12feb442720a36b22eb4f3c1db3e5220"  # of images.sha256
IMAGE_SIZE = 128


@dataclass
class Split:
    names: list[str]  # image file names, in split-file order
    captions: list[list[str]]  # five raw captions per image

    def __len__(self) -> int:
        return len(self.names)


def root(data_dir: Path) -> Path:
    return Path(data_dir) / "flickr8k"


def checksums(data_dir: Path) -> dict[str, str]:
    return {**SHA256, "images.sha256": IMAGES_SHA256}


def load_captions(data_dir: Path) -> dict[str, list[str]]:
    """image name -> its captions, from the verified token file (`name.jpg#k<TAB>caption`)."""
    path = root(data_dir) / TOKENS
    verify_file(path, SHA256[TOKENS], "sha256")
    captions: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        key, _, text = line.partition("\t")
        captions[key.split("#")[0]].append(text.strip())
    return dict(captions)


def load_split(data_dir: Path, split: str, captions: dict[str, list[str]] | None = None) -> Split:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {sorted(SPLITS)}")
    path = root(data_dir) / SPLITS[split]
    verify_file(path, SHA256[SPLITS[split]], "sha256")
    captions = captions if captions is not None else load_captions(data_dir)
    names = [n.strip() for n in path.read_text(encoding="utf-8").splitlines() if n.strip()]
    missing = [n for n in names if n not in captions]
    if missing:
        raise DatasetError(f"{len(missing)} {split} images have no captions, e.g. {missing[:3]}")
    return Split(names, [captions[n] for n in names])


def read_image(path: Path) -> np.ndarray:
    """(128, 128, 3) uint8 RGB; the stored copies are already 128x128, others are resized as in serving."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        if img.size != (IMAGE_SIZE, IMAGE_SIZE):
            img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
        return np.asarray(img, dtype=np.uint8)


def load_images(data_dir: Path, names: list[str], cache_dir: Path | None = None) -> np.ndarray:
    """(N, 128, 128, 3) uint8 for the named images, cached as .npy when `cache_dir` is given."""
    verify_file(root(data_dir) / "images.sha256", IMAGES_SHA256, "sha256")
    key = hashlib.sha256(("\n".join(names) + IMAGES_SHA256).encode()).hexdigest()[:16]
    cache = None if cache_dir is None else Path(cache_dir) / f"flickr8k-{key}.npy"
    if cache is not None and cache.exists():
        return np.load(cache)
    images = np.stack([read_image(root(data_dir) / "images" / n) for n in names])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, images)
    return images
