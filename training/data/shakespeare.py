"""Tiny Shakespeare (Karpathy's char-rnn), verified by SHA-256, split 90/10 as nanoGPT does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.checksums import verify_file

FILE = "input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TRAIN_FRACTION = 0.9


@dataclass(frozen=True)
class CharCorpus:
    vocab: list[str]  # sorted set of the characters in the whole file
    train: np.ndarray  # (N_train,) int64 ids: the first 90% of characters
    val: np.ndarray  # (N_val,) int64 ids: the last 10%


def path(data_dir: Path) -> Path:
    return Path(data_dir) / "tinyshakespeare" / FILE


def checksums() -> dict[str, str]:
    return {FILE: f"sha256:{SHA256}"}


def load(data_dir: Path, verify: bool = True) -> CharCorpus:
    p = path(data_dir)
    if verify:
        verify_file(p, SHA256, "sha256")
    text = p.read_text(encoding="utf-8")
    vocab = sorted(set(text))
    lookup = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((lookup[ch] for ch in text), dtype=np.int64, count=len(text))
    n = int(len(ids) * TRAIN_FRACTION)
    return CharCorpus(vocab=vocab, train=ids[:n], val=ids[n:])
