"""The image-folder reader: labels from sorted folder names, a stratified seeded hold-out, and every kind of bad
folder refused before training with a message naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data.image_folder import ImageFolderError, load, scan


def make(root: Path, split: str, counts: dict[str, int], size=(12, 9)) -> None:
    for c, n in counts.items():
        d = root / split / c
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", size, (i * 10 % 256, 0, 0)).save(d / f"{i}.png")


def test_labels_are_sorted_folder_names_and_10_percent_is_held_out_per_class(tmp_path):
    make(tmp_path, "train", {"zebra": 20, "ant": 10, "moth": 30})
    listing = scan(tmp_path, seed=0)
    assert listing.classes == ["ant", "moth", "zebra"] and listing.held_out_from_train
    val_counts = np.bincount([label for _, label in listing.val], minlength=3).tolist()
    assert val_counts == [1, 3, 2] and len(listing.train) == 54
    assert {p for p, _ in listing.val}.isdisjoint({p for p, _ in listing.train})
    assert scan(tmp_path, seed=0).val == listing.val and scan(tmp_path, seed=1).val != listing.val


def test_a_val_folder_is_used_as_given(tmp_path):
    make(tmp_path, "train", {"a": 3, "b": 3})
    make(tmp_path, "val", {"b": 2})
    listing = scan(tmp_path)
    assert not listing.held_out_from_train and len(listing.train) == 6 and [lbl for _, lbl in listing.val] == [1, 1]


def test_load_gives_uint8_images_and_labels(tmp_path):
    make(tmp_path, "train", {"a": 2, "b": 2}, size=(5, 4))
    x, y = load(scan(tmp_path).train, lambda img: np.asarray(img.convert("RGB")), "reading")
    assert x.shape == (len(y), 4, 5, 3) and x.dtype == np.uint8


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda r: None, "no such directory"),
        (lambda r: r.mkdir(), "is empty"),
        (lambda r: make(r, "photos", {"a": 1}), "has no train/ folder"),
        (lambda r: make(r, "train", {"only": 3}), r"1 class folder\(s\) \['only'\]; need at least two"),
        (lambda r: (make(r, "train", {"a": 2}), (r / "train" / "empty").mkdir()), r"no images: \['empty'\]"),
        (lambda r: (make(r, "train", {"a": 2, "b": 2}), make(r, "val", {"c": 1})), r"\['c'\] are not in train/"),
    ],
)
def test_bad_folders_are_refused_naming_the_problem(tmp_path, build, message):
    root = tmp_path / "data"
    build(root)
    with pytest.raises(ImageFolderError, match=message):
        scan(root)


def test_unreadable_images_are_all_listed_or_skipped_and_counted(tmp_path):
    make(tmp_path, "train", {"a": 3, "b": 3})
    for name in ("broken.png", "notes.txt"):
        (tmp_path / "train" / "a" / name).write_bytes(b"definitely not an image")
    with pytest.raises(ImageFolderError, match=r"2 image\(s\) Pillow cannot read:(.|\n)*broken.png(.|\n)*notes.txt"):
        scan(tmp_path)
    listing = scan(tmp_path, skip_bad=True)
    assert len(listing.skipped) == 2 and len(listing.train) + len(listing.val) == 6


def test_a_class_with_only_unreadable_images_is_refused_even_when_skipping(tmp_path):
    make(tmp_path, "train", {"a": 3})
    (tmp_path / "train" / "b").mkdir()
    (tmp_path / "train" / "b" / "x.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ImageFolderError, match=r"no readable images left in class folder\(s\) \['b'\]"):
        scan(tmp_path, skip_bad=True)
