"""CIFAR-10 reader: the published counts, order and array hashes; a missing, corrupt or wrong file named clearly."""

from __future__ import annotations

import numpy as np
import pytest

from core.checksums import DatasetError
from training.data import cifar10


@pytest.fixture(scope="module")
def test_split(data_dir):
    return cifar10.load_split(data_dir, "test")


def test_splits_match_the_published_counts_and_order(data_dir, test_split):
    train = cifar10.load_split(data_dir, "train")
    assert train.images.shape == (50000, 32, 32, 3) and test_split.images.shape == (10000, 32, 32, 3)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert np.bincount(train.labels).tolist() == [5000] * 10 and np.bincount(test_split.labels).tolist() == [1000] * 10
    assert train.labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]  # the original data_batch_1 order
    assert test_split.images[0, 7, 8, 0] == 171  # a published reference pixel (NHWC layout)


def test_checksums_name_every_array():
    assert cifar10.checksums()["cifar10/cifar10.npz:x_test"] == f"sha256:{cifar10.ARRAY_SHA256['x_test']}"


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"missing dataset file .*cifar10/cifar10.npz"):
        cifar10.load_split(tmp_path, "test")


def write_npz(tmp_path, **arrays):
    (tmp_path / "cifar10").mkdir()
    np.savez(tmp_path / "cifar10" / "cifar10.npz", **arrays)


def test_a_changed_pixel_names_the_array_and_its_expected_hash(tmp_path, test_split):
    x = test_split.images.copy()
    x[123, 4, 5, 1] ^= 0xFF
    write_npz(tmp_path, x_test=x, y_test=test_split.labels.astype(np.uint8))
    with pytest.raises(DatasetError, match=rf"array x_test has sha256 .*expected {cifar10.ARRAY_SHA256['x_test']}"):
        cifar10.load_split(tmp_path, "test")


def test_a_file_that_is_not_an_npz_or_lacks_an_array(tmp_path, test_split):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar10.npz").write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="cannot read it as .npz"):
        cifar10.load_split(tmp_path, "test")
    other = tmp_path / "other"
    other.mkdir()
    write_npz(other, x_test=test_split.images)
    with pytest.raises(DatasetError, match=r"no array \['y_test'\]"):
        cifar10.load_split(other, "test")


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown CIFAR-10 split 'valid'"):
        cifar10.load_split(".", "valid")
