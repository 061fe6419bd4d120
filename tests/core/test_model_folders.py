"""The repository on disk: numbered versions newest first (numerically), and manifests refused saying why."""

from __future__ import annotations

import json
import shutil

import pytest
from tests_support import MODELS

from core.model_folders import (
    NAME_PATTERN,
    latest_version,
    next_version,
    read_manifest,
    served_versions,
    version_folders,
)  # fmt: skip


def test_versions_are_numbered_folders_newest_first(tmp_path):
    for name in ("1", "10", "2", "0", "draft", "03"):
        (tmp_path / name).mkdir()
    (tmp_path / "7").write_text("a file, not a version")
    assert [p.name for p in version_folders(tmp_path)] == ["10", "03", "2", "1"]
    assert latest_version(tmp_path).name == "10"
    assert latest_version(tmp_path / "10") is None


def test_opt_in_versions_are_served_only_when_no_other_version_is(tmp_path):
    for version, opt_in in ((1, False), (2, True), (3, None)):
        (tmp_path / str(version)).mkdir()
        if opt_in is not None:
            (tmp_path / str(version) / "manifest.json").write_text(json.dumps({"opt_in": opt_in}))
    (tmp_path / "4").mkdir()
    (tmp_path / "4" / "manifest.json").write_text("{broken")  # counts as not opt-in: loading it says why
    assert [p.name for p in served_versions(tmp_path)] == ["4", "3", "1"]
    (tmp_path / "4" / "manifest.json").write_text(json.dumps({"opt_in": True}))
    assert latest_version(tmp_path).name == "3" and next_version(tmp_path) == 5  # a new export follows them all
    only = tmp_path / "only-opt-in"
    (only / "1").mkdir(parents=True)
    (only / "1" / "manifest.json").write_text(json.dumps({"opt_in": True}))
    assert [p.name for p in served_versions(only)] == ["1"]


def test_manifest_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="manifest.json is missing"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json is not valid JSON: Expecting property name"):
        read_manifest(tmp_path)
    data = json.loads((MODELS / "lenet5-mnist" / "1" / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**data, "version": 0}))
    with pytest.raises(ValueError, match=r"manifest.json is invalid: 1 error\(s\): Input should be greater than"):
        read_manifest(tmp_path)


def test_committed_manifest_reads_and_names_match_the_pattern(tmp_path):
    shutil.copy(MODELS / "lenet5-mnist" / "1" / "manifest.json", tmp_path / "manifest.json")
    assert read_manifest(tmp_path).name == "lenet5-mnist"
    assert NAME_PATTERN.match("gru-en-fr") and not NAME_PATTERN.match("../etc") and not NAME_PATTERN.match("Big")


def test_next_version_and_name_check(tmp_path):
    from core.model_folders import check_name, next_version

    assert next_version(tmp_path / "new-model") == 1
    for name in ("1", "4", "draft"):
        (tmp_path / name).mkdir()
    assert next_version(tmp_path) == 5
    assert check_name("my-photos.v2") == "my-photos.v2"
    for bad in ("My Photos", "-dash", "a/b", ""):
        with pytest.raises(ValueError, match="invalid model name"):
            check_name(bad)
