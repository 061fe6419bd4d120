"""Multi30k task 1 (WMT16 MMT): aligned English, German and French sentences, verified by SHA-256."""

from __future__ import annotations

import gzip
from pathlib import Path

from core.checksums import DatasetError, verify_file

LANGUAGES = ("en", "de", "fr")
SPLITS = {"train": "train", "val": "val", "test2016": "test_2016_flickr"}
SHA256 = {
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
}


def file_name(split: str, lang: str) -> str:
    if split not in SPLITS or lang not in LANGUAGES:
        raise ValueError(f"unknown split/language {split}/{lang}; allowed: {sorted(SPLITS)} x {LANGUAGES}")
    return f"{SPLITS[split]}.{lang}.gz"


def checksums(src: str, tgt: str) -> dict[str, str]:
    return {n: f"sha256:{SHA256[n]}" for split in SPLITS for n in (file_name(split, src), file_name(split, tgt))}


def read_lines(data_dir: Path, split: str, lang: str, verify: bool = True) -> list[str]:
    path = Path(data_dir) / "multi30k" / file_name(split, lang)
    if verify:
        verify_file(path, SHA256[path.name], "sha256")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n").strip() for line in f]


def load_pairs(data_dir: Path, split: str, src: str, tgt: str) -> tuple[list[str], list[str]]:
    """Line-aligned (source, target) sentences of one split."""
    s, t = read_lines(data_dir, split, src), read_lines(data_dir, split, tgt)
    if len(s) != len(t):
        raise DatasetError(f"multi30k {split}: {len(s)} {src} lines but {len(t)} {tgt} lines")
    return s, t
