"""The manifest schema: preprocessing is a discriminated union of typed recipes; a runtime path is validated."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from tests_support import MODELS

from core.manifest import Manifest, MnistDigit, Photo


def lenet(**changes) -> dict:
    data = json.loads((MODELS / "lenet5-mnist" / "1" / "manifest.json").read_text())
    return {**data, **changes}


def test_committed_manifests_parse_with_their_recipes():
    for name, recipe in (("lenet5-mnist", MnistDigit), ("captioner-flickr8k", Photo)):
        m = Manifest.model_validate_json((MODELS / name / "1" / "manifest.json").read_text())
        assert type(m.preprocessing) is recipe
    digit = Manifest.model_validate(lenet()).preprocessing
    assert (digit.input_size, digit.fit_size, digit.mean, digit.std, digit.shape) == (
        28,
        20,
        0.1307,
        0.3081,
        (1, 28, 28),
    )


def test_photo_recipe_shape_is_channels_first():
    photo = Photo(kind="photo", resize=128, crop=112, mean=[0.5] * 3, std=[0.2] * 3)
    assert photo.shape == (3, 112, 112)


@pytest.mark.parametrize(
    ("preprocessing", "message"),
    [
        ({"kind": "sepia"}, "'mnist-digit', 'photo', 'image'"),  # the error names the kinds there are
        ({"kind": "mnist-digit", "mean": 0.1, "std": 0.3, "colour": "red"}, "Extra inputs are not permitted"),
        ({"kind": "mnist-digit", "mean": 0.1, "std": 0}, "greater than 0"),
        ({"kind": "photo", "resize": 128, "crop": 112, "mean": [0.5], "std": [0.2] * 3}, "at least 3 items"),
        ({"kind": "image", "resize": [32, 32], "layout": "chw"}, "'nchw' or 'nhwc'"),
        ({"kind": "image", "resize": [32, 32], "crop": [40, 40]}, "larger than the resized image"),
    ],
)
def test_bad_recipes_are_refused_saying_why(preprocessing, message):
    with pytest.raises(ValidationError, match=message):
        Manifest.model_validate(lenet(preprocessing=preprocessing))


def test_runtime_import_path_and_default_flag():
    m = Manifest.model_validate(lenet(runtime="my_models.classifiers:Mine", default=True))
    assert (m.runtime, m.default) == ("my_models.classifiers:Mine", True)
    assert Manifest.model_validate({**lenet(), "default": False}).default is False
    assert Manifest.model_validate({k: v for k, v in lenet().items() if k != "default"}).default is False
    with pytest.raises(ValidationError, match="runtime"):
        Manifest.model_validate(lenet(runtime="not a path"))
