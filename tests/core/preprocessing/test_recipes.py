"""`apply`: each recipe kind is implemented once, and gives what its own functions give, in its declared shape."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.errors import InputError
from core.manifest import ImageRecipe, MnistDigit, Photo
from core.preprocessing.color import to_grayscale
from core.preprocessing.digits import mnist_digit
from core.preprocessing.photos import photo_tensor
from core.preprocessing.recipes import apply, parse


def test_mnist_digit_recipe_normalises_the_mnist_digit():
    canvas = np.zeros((90, 60), np.uint8)
    canvas[20:70, 25:35] = 255  # a "1"
    img = Image.fromarray(canvas)
    recipe = MnistDigit(kind="mnist-digit", mean=0.1307, std=0.3081)
    out = apply(recipe, img, "one.png")
    expected = (mnist_digit(to_grayscale(img), "one.png", 28, 20) - 0.1307) / 0.3081
    assert out.shape == recipe.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], expected)


def test_photo_recipe_is_photo_tensor():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8))
    recipe = Photo(kind="photo", resize=64, crop=56, mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3])
    out = apply(recipe, img, "p.jpg")
    assert out.shape == recipe.shape
    np.testing.assert_array_equal(out, photo_tensor(img, 64, 56, [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]))


def test_input_errors_name_the_image():
    with pytest.raises(InputError, match="blank.png: the image is blank"):
        apply(MnistDigit(kind="mnist-digit", mean=0.1, std=0.3), Image.new("L", (28, 28), 0), "blank.png")


def test_an_unknown_recipe_type_is_a_programming_error():
    with pytest.raises(TypeError, match="no preprocessing for dict"):
        apply({"kind": "mnist-digit"}, Image.new("L", (8, 8)), "x.png")


def test_a_recipe_is_parsed_by_its_kind_as_v2_metadata_spells_it():
    image = ImageRecipe(kind="image", channels="bgr", resize_shorter=40, crop=(32, 32), layout="nhwc")
    assert parse(image.model_dump(mode="json")) == image
    digit = {"kind": "mnist-digit", "mean": 0.13, "std": 0.31}
    assert parse(digit) == MnistDigit(**digit)
    with pytest.raises(ValueError, match="does not match any of the expected tags"):
        parse({"kind": "audio"})
