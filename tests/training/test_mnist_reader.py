"""MNIST IDX readers: counts and class balance as published; missing or corrupt files named clearly."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.checksums import DatasetError
from training.data import mnist


def test_splits_match_published_counts(data_dir):
    train, test = mnist.load_split(data_dir, "train"), mnist.load_split(data_dir, "t10k")
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.images.dtype == np.uint8 and train.images.flags.writeable
    assert np.bincount(train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_missing_file_names_file_and_checksum(tmp_path):
    with pytest.raises(DatasetError, match=r"missing dataset file .*t10k-images-idx3-ubyte.gz \(expected md5 9fb629c4"):
        mnist.load_split(tmp_path, "t10k")


def test_corrupt_file_names_expected_checksum(tmp_path, data_dir):
    (tmp_path / "mnist").mkdir()
    for name in mnist.MD5:
        shutil.copy(data_dir / "mnist" / name, tmp_path / "mnist" / name)
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(
        DatasetError, match=r"corrupt dataset file .*t10k-labels.* expected ec29112dd5afa0611ce80d1b7f02629c"
    ):
        mnist.load_split(tmp_path, "t10k")


def test_unknown_split():
    with pytest.raises(ValueError, match="allowed: 'train', 't10k'"):
        mnist.load_split("/nonexistent", "validation")
