"""LeNet-5's quality figures: the raw-tensor test error and the one users get, each digit sent through the
service's decoding and recipe as a PNG upload, measured on the committed model."""

from __future__ import annotations

import json

from tests_support import MODELS

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
