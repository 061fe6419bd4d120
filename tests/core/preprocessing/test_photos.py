"""Photo preprocessing for the captioner: every Pillow mode becomes RGB; sizes and normalisation as trained."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.preprocessing.color import to_rgb
from core.preprocessing.photos import photo_tensor

MEAN, STD = [0.5, 0.4, 0.3], [0.25, 0.2, 0.1]


@pytest.mark.parametrize(
    "img",
    [
        Image.new("RGB", (64, 40), (200, 10, 10)),
        Image.new("L", (10, 300), 128),
        Image.new("1", (5, 5), 1),
        Image.new("P", (20, 20), 3),
        Image.new("CMYK", (30, 30), (0, 255, 255, 0)),
        Image.new("RGBA", (30, 30), (0, 0, 0, 0)),
        Image.new("LA", (30, 30), (0, 255)),
        Image.new("I;16", (30, 30), 65535),
        Image.new("I", (30, 30), 7),
        Image.new("F", (30, 30), 0.5),
        Image.new("YCbCr", (30, 30), (128, 128, 128)),
    ],
    ids=lambda img: img.mode,
)
def test_any_mode_and_size_gives_the_training_shape(img):
    x = photo_tensor(img, 128, 112, MEAN, STD)
    assert x.shape == (3, 112, 112) and x.dtype == np.float32 and np.isfinite(x).all()


def test_transparent_pixels_become_white():
    assert to_rgb(Image.new("RGBA", (4, 4), (0, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_white_is_white():
    assert to_rgb(Image.new("I;16", (4, 4), 65535)).getpixel((0, 0)) == (255, 255, 255)


def test_normalisation_and_centre_crop():
    arr = np.zeros((128, 128, 3), np.uint8)
    arr[8:120, 8:120] = 255  # exactly the central 112 x 112 crop is white
    x = photo_tensor(Image.fromarray(arr), 128, 112, MEAN, STD)
    expected = (1 - np.array(MEAN)) / np.array(STD)
    np.testing.assert_allclose(x[:, 0, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(x[:, -1, -1], expected, rtol=1e-6)


def test_other_sizes_are_squashed_like_the_dataset():
    left_red = np.zeros((50, 200, 3), np.uint8)
    left_red[:, :100, 0] = 255  # left half red, right half black: squashing keeps the halves
    x = photo_tensor(Image.fromarray(left_red), 128, 112, [0, 0, 0], [1, 1, 1])
    assert x[0, 56, 10] > 0.99 and x[0, 56, 100] < 0.01
