"""Flickr8k reading, the caption vocabulary (training split only) and word normalisation."""

from __future__ import annotations

import pytest

from core.checksums import DatasetError
from training.data import flickr8k
from training.tokenization import BOS, EOS, PAD, UNK, train_words, words


@pytest.fixture(scope="module")
def captions(data_dir):
    return flickr8k.load_captions(data_dir)


def test_official_splits(data_dir, captions):
    sizes = {k: len(flickr8k.load_split(data_dir, k, captions)) for k in flickr8k.SPLITS}
    assert sizes == {"train": 6000, "dev": 1000, "test": 1000}
    train = flickr8k.load_split(data_dir, "train", captions)
    test = flickr8k.load_split(data_dir, "test", captions)
    assert not set(train.names) & set(test.names)
    assert all(len(c) == 5 for c in train.captions)


def test_unknown_split_is_refused(data_dir):
    with pytest.raises(ValueError, match="allowed"):
        flickr8k.load_split(data_dir, "validation")


def test_corrupt_file_is_refused(tmp_path, data_dir):
    (tmp_path / "flickr8k").mkdir()
    (tmp_path / "flickr8k" / flickr8k.TOKENS).write_text("x.jpg#0\ta dog\n")
    with pytest.raises(DatasetError, match="corrupt dataset file"):
        flickr8k.load_captions(tmp_path)


def test_images_are_128px_rgb(data_dir):
    images = flickr8k.load_images(data_dir, ["1000268201_693b08cb0e.jpg", "1001773457_577c3a7d70.jpg"])
    assert images.shape == (2, 128, 128, 3) and images.dtype.name == "uint8"


def test_vocabulary_from_training_split_only(data_dir, captions):
    train = flickr8k.load_split(data_dir, "train", captions)
    test = flickr8k.load_split(data_dir, "test", captions)
    tok = train_words([c for cs in train.captions for c in cs], 5)
    assert [tok.token_to_id(t) for t in (PAD, BOS, EOS, UNK)] == [0, 1, 2, 3]
    train_words_seen = {w for cs in train.captions for c in cs for w in words(tok, c)}
    test_only = {w for cs in test.captions for c in cs for w in words(tok, c)} - train_words_seen
    assert test_only and all(tok.token_to_id(w) is None for w in test_only)


def test_words_are_lowercased_without_punctuation(data_dir, captions):
    tok = train_words(["A dog runs.", "a dog sits"] * 5, 1)
    assert words(tok, "A black-and-white Dog, running!") == ["a", "black", "and", "white", "dog", "running"]
    assert tok.encode("A DOG, sits.").tokens == ["a", "dog", "sits"]
    assert tok.decode(tok.encode("a dog sits").ids) == "a dog sits"
