"""The user's own labelled images: `DIR/train/<class>/<images>` and optionally `DIR/val/<class>/<images>`.

Labels are the class-folder names, sorted. Without `val/`, a seeded 10% of each class is held out. Everything
that would stop training is found before it starts and reported at once, naming what is wrong: a missing or
empty folder, fewer than two classes, an empty class, images Pillow cannot read (all of them listed; with
`skip_bad` they are left out and counted), a validation class that training does not have.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

HOLD_OUT = 0.1
SHOW_BAD = 20  # unreadable files named in the message; the rest are counted


class ImageFolderError(ValueError):
    """The image folder cannot be trained on; the message says what is wrong and where."""


@dataclass(frozen=True)
class Listing:
    classes: list[str]
    train: list[tuple[Path, int]]
    val: list[tuple[Path, int]]
    held_out_from_train: bool
    skipped: list[Path] = field(default_factory=list)


def class_files(split_dir: Path) -> dict[str, list[Path]]:
    folders = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    return {d.name: sorted(f for f in d.rglob("*") if f.is_file() and not f.name.startswith(".")) for d in folders}


def readable(path: Path) -> bool:
    try:
        with warnings.catch_warnings(), Image.open(path) as img:
            warnings.simplefilter("ignore")
            img.load()
        return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


def scan(root: Path, seed: int = 0, skip_bad: bool = False) -> Listing:
    """Check the folder and list its images by split; raises ImageFolderError naming every problem found."""
    root = Path(root)
    if not root.is_dir():
        raise ImageFolderError(f"{root}: no such directory (expected {root}/train/<class>/<images>)")
    if not any(root.iterdir()):
        raise ImageFolderError(f"{root} is empty; expected {root}/train/<class>/<images>")
    train_dir, val_dir = root / "train", root / "val"
    if not train_dir.is_dir():
        raise ImageFolderError(f"{root} has no train/ folder; expected {root}/train/<class>/<images>")
    train = class_files(train_dir)
    if len(train) < 2:
        raise ImageFolderError(f"{train_dir} has {len(train)} class folder(s) {sorted(train)}; need at least two")
    empty = [c for c, files in train.items() if not files]
    if empty:
        raise ImageFolderError(f"{train_dir}: class folder(s) with no images: {empty}")
    val = class_files(val_dir) if val_dir.is_dir() else {}
    unknown = sorted(set(val) - set(train))
    if unknown:
        raise ImageFolderError(f"{val_dir}: class(es) {unknown} are not in train/ (train has {sorted(train)})")
    files = [f for split in (train, val) for fs in split.values() for f in fs]
    bad = [f for f in tqdm(files, desc="checking images", leave=False, disable=None) if not readable(f)]
    if bad and not skip_bad:
        shown = "\n  ".join(str(f) for f in bad[:SHOW_BAD])
        more = f"\n  ... and {len(bad) - SHOW_BAD} more" if len(bad) > SHOW_BAD else ""
        raise ImageFolderError(
            f"{len(bad)} image(s) Pillow cannot read:\n  {shown}{more}\n(--skip-bad-images trains without them)"
        )
    skip = set(bad)
    classes = sorted(train)
    index = {c: i for i, c in enumerate(classes)}
    kept = {c: [f for f in fs if f not in skip] for c, fs in train.items()}
    emptied = [c for c, fs in kept.items() if not fs]
    if emptied:
        raise ImageFolderError(f"{train_dir}: no readable images left in class folder(s) {emptied}")
    if val:
        pairs = [(f, index[c]) for c, fs in val.items() for f in fs if f not in skip]
        return Listing(classes, [(f, index[c]) for c, fs in kept.items() for f in fs], pairs, False, bad)
    train_pairs, val_pairs = stratified_split(kept, index, seed)
    return Listing(classes, train_pairs, val_pairs, True, bad)


def stratified_split(
    files: dict[str, list[Path]], index: dict[str, int], seed: int
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """A seeded HOLD_OUT share of each class with two or more images goes to validation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c, fs in files.items():
        order = rng.permutation(len(fs))
        n_val = int(round(len(fs) * HOLD_OUT)) if len(fs) >= 2 else 0
        n_val = max(n_val, 1) if len(fs) >= 2 else 0
        val += [(fs[i], index[c]) for i in order[:n_val]]
        train += [(fs[i], index[c]) for i in order[n_val:]]
    return train, val


def load(pairs: list[tuple[Path, int]], to_pixels: Callable[[Image.Image], np.ndarray], desc: str):
    """uint8 (N, H, W, C) images (each through `to_pixels`) and (N,) int64 labels."""
    images = []
    for path, _ in tqdm(pairs, desc=desc, leave=False, disable=None):
        with Image.open(path) as img:
            img.load()
            images.append(to_pixels(img))
    labels = np.array([label for _, label in pairs], dtype=np.int64)
    return np.stack(images) if images else np.zeros((0, 1, 1, 1), np.uint8), labels
