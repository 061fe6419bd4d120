"""Everything the captioner's training needs from Flickr8k, prepared once: the word vocabulary (training split
only), token ids of the training captions, normalised dev references, the image arrays, and the concept words
(frequent non-stopwords) whose occurrence pretrains the CNN."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from training.data import flickr8k
from training.paths import RUNS_DIR
from training.tokenization import BOS, EOS, PAD, UNK, train_words, words

# Function words and the near-universal ones carry no visual signal for the occurrence head.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "of",
        "in",
        "on",
        "at",
        "to",
        "and",
        "with",
        "its",
        "it",
        "his",
        "her",
        "their",
        "they",
        "there",
        "this",
        "that",
        "for",
        "from",
        "by",
        "as",
        "into",
        "while",
        "some",
        "other",
        "each",
        "one",
        "two",
        "three",
        "four",
        "five",
        "several",
        "people",
        "person",
    ]
)


@dataclass
class CaptionData:
    tokenizer: Tokenizer
    train: flickr8k.Split
    dev: flickr8k.Split
    train_images: np.ndarray  # (N, 128, 128, 3) uint8
    dev_images: np.ndarray
    train_ids: list[list[list[int]]]  # per image, per caption: word ids (no BOS/EOS), at most max_words
    dev_references: list[list[str]]  # per image: its captions as normalised words joined by spaces
    concepts: list[str]
    special: dict[str, int]

    @classmethod
    def load(cls, data_dir: Path, min_count: int, n_concepts: int, max_words: int, dry_run: bool = False):
        captions = flickr8k.load_captions(data_dir)
        train = flickr8k.load_split(data_dir, "train", captions)
        dev = flickr8k.load_split(data_dir, "dev", captions)
        if dry_run:
            train = flickr8k.Split(train.names[:256], train.captions[:256])
            dev = flickr8k.Split(dev.names[:64], dev.captions[:64])
        tok = train_words([c for cs in train.captions for c in cs], min_count)
        special = {k: tok.token_to_id(v) for k, v in (("pad", PAD), ("bos", BOS), ("eos", EOS), ("unk", UNK))}
        train_ids = [[tok.encode(c).ids[:max_words] for c in cs] for cs in train.captions]
        dev_refs = [[" ".join(words(tok, c)) for c in cs] for cs in dev.captions]
        doc_freq = Counter(w for cs in train.captions for w in {w for c in cs for w in words(tok, c)})
        concepts = [w for w, _ in doc_freq.most_common() if w not in STOPWORDS and tok.token_to_id(w) is not None]
        cache = RUNS_DIR / "cache"
        return cls(
            tokenizer=tok,
            train=train,
            dev=dev,
            train_images=flickr8k.load_images(data_dir, train.names, cache),
            dev_images=flickr8k.load_images(data_dir, dev.names, cache),
            train_ids=train_ids,
            dev_references=dev_refs,
            concepts=concepts[:n_concepts],
            special=special,
        )

    def concept_targets(self, split: flickr8k.Split) -> np.ndarray:
        """(N, K) float32: the share of an image's captions that use each concept word."""
        index = {w: k for k, w in enumerate(self.concepts)}
        out = np.zeros((len(split), len(self.concepts)), np.float32)
        for i, caps in enumerate(split.captions):
            for c in caps:
                for w in set(words(self.tokenizer, c)):
                    if w in index:
                        out[i, index[w]] += 1 / len(caps)
        return out

    def pixel_stats(self) -> dict[str, list[float]]:
        """Per-channel mean and std of the training photos in [0, 1] (the normalisation in the manifest)."""
        x = self.train_images.reshape(-1, 3).astype(np.float64) / 255
        return {"mean": [round(float(v), 4) for v in x.mean(0)], "std": [round(float(v), 4) for v in x.std(0)]}
