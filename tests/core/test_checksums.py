"""Checksums of graphs and dataset files: hashlib's digest, and a refusal that names the file and both sums."""

from __future__ import annotations

import hashlib

import pytest

from core.checksums import DatasetError, file_digest, file_sha256, verify_file


def test_digests_equal_hashlib_for_files_larger_than_one_chunk(tmp_path):
    data = bytes(range(256)) * 9000  # 2.3 MB: several 1 MiB chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_digest(path, "md5") == hashlib.md5(data).hexdigest()


def test_verify_file_names_the_file_and_both_checksums(tmp_path):
    path = tmp_path / "train.gz"
    path.write_bytes(b"abc")
    verify_file(path, hashlib.sha256(b"abc").hexdigest(), "sha256")
    with pytest.raises(
        DatasetError, match=rf"corrupt dataset file {path}: sha256 is {hashlib.sha256(b'abc').hexdigest()}"
    ):
        verify_file(path, "0" * 64, "sha256")
    with pytest.raises(DatasetError, match="missing dataset file .*nope.gz"):
        verify_file(tmp_path / "nope.gz", "0" * 64, "sha256")
