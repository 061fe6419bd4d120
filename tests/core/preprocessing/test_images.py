"""The general image recipe: colour modes, both resize modes, centre crop, scale/mean/std, channel order, layout,
EXIF orientation; every Pillow mode a photo arrives in."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.manifest import ImageRecipe
from core.preprocessing.images import resized_size
from core.preprocessing.recipes import apply


def recipe(**kw) -> ImageRecipe:
    return ImageRecipe(kind="image", **{"resize": (8, 8), **kw})


def halves(w: int = 40, h: int = 20) -> Image.Image:
    """Left half red, right half blue."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2, 0] = 255
    a[:, w // 2 :, 2] = 255
    return Image.fromarray(a)


def test_squash_scale_mean_std_and_layouts():
    img = Image.fromarray(np.full((30, 50, 3), (255, 0, 51), np.uint8))
    r = recipe(resize=(10, 6), mean=[0.5, 0.0, 0.1], std=[0.5, 1.0, 0.2])
    x = apply(r, img, "a.png")
    assert x.shape == r.shape == (3, 6, 10) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 0], [1.0, 0.0, 0.5], atol=1e-6)  # (255/255 - .5)/.5, 0, (.2 - .1)/.2
    nhwc = apply(recipe(resize=(10, 6), layout="nhwc", mean=[0.5, 0.0, 0.1], std=[0.5, 1.0, 0.2]), img, "a.png")
    assert nhwc.shape == (6, 10, 3)
    np.testing.assert_array_equal(nhwc, x.transpose(1, 2, 0))


def test_bgr_reverses_the_channels_and_gray_has_one():
    img = Image.fromarray(np.full((8, 8, 3), (200, 100, 0), np.uint8))
    rgb, bgr = apply(recipe(scale=1), img, "x"), apply(recipe(channels="bgr", scale=1), img, "x")
    np.testing.assert_array_equal(bgr, rgb[::-1])
    gray = apply(recipe(channels="gray", scale=1), img, "x")
    assert gray.shape == (1, 8, 8)
    np.testing.assert_allclose(gray[0, 0, 0], 0.299 * 200 + 0.587 * 100, atol=0.6)  # ITU-R 601 luma


def test_shorter_side_then_centre_crop_keeps_the_aspect_ratio():
    assert resized_size(recipe(resize=None, resize_shorter=16, crop=(16, 16)), 40, 20) == (32, 16)
    assert resized_size(recipe(resize=None, resize_shorter=16, crop=(16, 16)), 20, 40) == (16, 32)
    r = recipe(resize=None, resize_shorter=16, crop=(16, 16), scale=1)
    x = apply(r, halves(), "h.png")  # 40x20 -> 32x16 -> columns 8..24: half red, half blue
    assert x.shape == (3, 16, 16)
    assert (x[0, :, :7] > 250).all() and (x[2, :, 9:] > 250).all()
    squashed = apply(recipe(resize=(16, 16), scale=1), halves(), "h.png")  # squash keeps all of both halves
    assert (squashed[0, :, :7] > 250).all() and (squashed[2, :, 9:] > 250).all()


def test_exif_orientation_is_honoured():
    img = halves(40, 20)  # stored landscape; orientation 6 says "rotate 90 degrees clockwise to view"
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    decoded = Image.open(io.BytesIO(buf.getvalue()))
    x = apply(recipe(resize=(10, 20), scale=1), decoded, "phone.jpg")  # viewed portrait: 20 wide, 40 tall
    top, bottom = x[:, 2, 5], x[:, -3, 5]  # after the turn, red (the left half) is on top
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "YCbCr", "I;16", "I", "F", "PA"])
def test_every_mode_becomes_the_declared_shape(mode):
    base = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    img = base.convert("L").convert(mode) if mode in ("I;16", "I", "F", "1", "LA") else base.convert(mode)
    for channels, c in (("rgb", 3), ("gray", 1)):
        x = apply(recipe(channels=channels), img, "m")
        assert x.shape == (c, 8, 8) and np.isfinite(x).all()


def test_transparency_goes_onto_white():
    img = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    np.testing.assert_allclose(apply(recipe(), img, "t.png"), 1.0)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"resize": None}, "exactly one of resize"),
        ({"resize_shorter": 8}, "exactly one of resize"),
        ({"resize": None, "resize_shorter": 8}, "needs a crop"),
        ({"crop": (9, 8)}, "larger than the resized image"),
        ({"resize": None, "resize_shorter": 8, "crop": (8, 10)}, "larger than the resized image"),
        ({"mean": [0.1, 0.2]}, "mean has 2 values"),
        ({"channels": "gray", "std": [1, 1, 1]}, "std has 3 values"),
        ({"std": [0.0]}, "std must be positive"),
        ({"resize": (0, 8)}, "resize must be positive"),
    ],
)
def test_recipes_that_cannot_give_a_fixed_input_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        recipe(**kw)
