"""LeNet-5's quality figures: the raw-tensor test error and the one users get, each digit sent through the
service's decoding and recipe as a PNG upload, measured on the committed model."""

from __future__ import annotations

import json

import pytest
from tests_support import MODELS

from training import cli
from training.data import mnist
from training.models.lenet import LeNetConfig
from training.tasks.lenet_mnist import onnx_test_error, served_test_error


def test_the_served_error_goes_through_the_recipe_and_stays_near_the_raw_one(data_dir):
    folder = MODELS / "lenet5-mnist" / "1"
    manifest = json.loads((folder / "manifest.json").read_text())
    te = mnist.load_split(data_dir, "t10k")
    te = mnist.MnistSplit(te.images[:1000], te.labels[:1000])
    raw = onnx_test_error(folder / "model.onnx", te, LeNetConfig(**manifest["training"]["model_config"]))
    served = served_test_error(folder / "model.onnx", te, manifest["preprocessing"])
    assert raw <= 0.01 and served <= 0.01 and abs(raw - served) <= 0.004
    # The recipe is really applied: a recipe that scales the digit into a tiny box costs accuracy.
    squeezed = served_test_error(folder / "model.onnx", te, {**manifest["preprocessing"], "fit_size": 8})
    assert squeezed > served + 0.05


def test_export_with_shift_averaging_reports_both_graphs_on_the_held_out_digits(tmp_path, data_dir):
    run, out = tmp_path / "run", tmp_path / "models" / "lenet5-mnist" / "1"
    common = ["--data-dir", str(data_dir)]
    cli.run("train", "lenet5-mnist", ["--dry-run", "--batch-norm", "--holdout", "300", "--stroke", "0.5",
                                      "--run-dir", str(run), "--no-progress", *common])  # fmt: skip
    cli.run("export", "lenet5-mnist", ["--checkpoint", str(run / "checkpoint.pt"), "--out", str(out), "--tta", "shift",
                                       "--eval-limit", "200", *common])  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["model_config"]["batch_norm"] is True and manifest["training"]["holdout"] == 300
    assert manifest["training"]["stroke_width"] == {"share": 0.5, "max_thicken": 1.0, "max_thin": 0.5}
    assert manifest["test_time_augmentation"].startswith("mean logits of the digit and of it moved")
    m = manifest["metrics"]
    assert {"holdout_error", "holdout_error_without_tta", "test_error_without_tta"} <= set(m)
    # The exported graph is the averaging one: its test error is what the manifest gives, the plain one's differs.
    config = LeNetConfig(**manifest["training"]["model_config"])
    te = mnist.load_split(data_dir, "t10k")
    first = mnist.MnistSplit(te.images[:200], te.labels[:200])
    assert round(onnx_test_error(out / "model.onnx", first, config), 6) == m["test_error"]
    assert manifest["parity"]["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("flag", [["--stroke", "1.5"], ["--stroke", "-0.1"], ["--holdout", "60000"]])
def test_a_bad_training_setting_exits_with_a_message_and_writes_nothing(tmp_path, data_dir, flag):
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        cli.run("train", "lenet5-mnist", ["--dry-run", *flag, "--run-dir", str(run), "--no-progress",
                                          "--data-dir", str(data_dir)])  # fmt: skip
    assert flag[0] in str(e.value.code)
    assert not (run / "checkpoint.pt").exists()
