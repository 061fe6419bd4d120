"""Learning curves: series split into losses and metrics (times left out), one row per stage, PNG written, empty
history refused."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from training.curves import curves, stages_of, write_curves
from training.export import write_manifest

HISTORY = [
    {"epoch": 1, "train_loss": 2.0, "val_loss": 2.2, "test_error": 0.5, "seconds": 10.0, "cpu_seconds": 19.0},
    {"epoch": 2, "train_loss": 1.0, "val_loss": 1.4, "test_error": 0.2, "seconds": 20.0, "cpu_seconds": 39.0},
]


def test_losses_and_metrics_are_separated():
    c = curves(HISTORY)
    assert c["epoch"] == [1, 2]
    assert c["losses"] == {"train_loss": [2.0, 1.0], "val_loss": [2.2, 1.4]}
    assert c["metrics"] == {"test_error": [0.5, 0.2]}


def test_stages_from_single_and_two_stage_manifests():
    assert stages_of({"training": {"history": HISTORY}}) == {"training": HISTORY}
    two = {"training": {"stages": {"encoder": {"history": HISTORY}, "decoder": {"history": HISTORY[:1]}}}}
    assert list(stages_of(two)) == ["encoder", "decoder"]


def test_write_curves_json_and_png(tmp_path):
    data = write_curves(tmp_path, {"encoder": HISTORY, "decoder": HISTORY}, "m v1")
    assert json.loads((tmp_path / "curves.json").read_text()) == data
    with Image.open(tmp_path / "curves.png") as img:
        assert img.format == "PNG" and img.size[1] > img.size[0] / 2  # two rows of panels


def test_empty_history_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no training history"):
        write_curves(tmp_path, {"training": []}, "m v1")


def test_manifest_with_history_gets_curves(tmp_path):
    write_manifest(tmp_path, {"name": "m", "version": 1, "training": {"history": HISTORY}})
    assert (tmp_path / "curves.png").is_file()
    other = tmp_path / "no-history"
    other.mkdir()
    write_manifest(other, {"name": "m", "version": 1, "training": {}})
    assert not (other / "curves.png").exists()


def test_committed_models_have_curves(models_dir):
    manifests = sorted(models_dir.glob("*/*/manifest.json"))
    # The glob must find every committed model, or the loop below checks nothing.
    assert {m.parent.parent.name for m in manifests} == {p.name for p in models_dir.iterdir() if p.is_dir()}
    assert len(manifests) >= 5
    for manifest in manifests:
        data = json.loads((manifest.parent / "curves.json").read_text())
        assert data["stages"] and (manifest.parent / "curves.png").is_file(), manifest.parent
