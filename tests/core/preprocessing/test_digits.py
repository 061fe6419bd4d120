"""Digit preprocessing on what users really send: any size, mode, polarity and position."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.errors import InputError
from core.preprocessing.color import to_grayscale
from core.preprocessing.digits import light_ink_on_dark, mnist_digit, paper_level, regions
from training.digit_styles import scanned


def roundtrip(img: Image.Image, fmt: str = "PNG") -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return Image.open(io.BytesIO(buf.getvalue()))


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(x.shape)
    return float((ys * x).sum() / x.sum()), float((xs * x).sum() / x.sum())


def test_mnist_digit_is_nearly_unchanged(mnist_test):
    """A real MNIST digit already follows the recipe, so preprocessing must leave it close to itself."""
    images, _ = mnist_test
    for digit in images[:20]:
        out = mnist_digit(digit / 255.0, "d")
        assert out.shape == (28, 28) and out.dtype == np.float32
        corr = np.corrcoef(out.ravel(), digit.ravel())[0, 1]
        assert corr > 0.85, corr


def test_inverted_offcentre_rgb_100x100_digit_is_normalised(mnist_test):
    images, _ = mnist_test
    digit = images[0]
    ink = Image.fromarray(255 - digit).resize((60, 60), Image.Resampling.BICUBIC).convert("RGB")
    canvas = Image.new("RGB", (100, 100), (255, 255, 255))
    canvas.paste(ink, (38, 3))  # dark ink on white paper, top-right
    out = mnist_digit(to_grayscale(roundtrip(canvas)), "photo")
    assert out.max() == pytest.approx(1.0, abs=0.05) and np.median(out) < 0.05  # light ink on dark
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) < 1.0 and abs(cx - 14) < 1.0
    rows, cols = np.nonzero(out > 0.2)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= 21  # fitted into the 20x20 box
    assert np.corrcoef(out.ravel(), mnist_digit(digit / 255.0, "d").ravel())[0, 1] > 0.8


def test_polarity_detection():
    dark_on_light = np.ones((10, 10), np.float32)
    dark_on_light[3:7, 4:6] = 0.0
    out = light_ink_on_dark(dark_on_light)
    assert out[0, 0] == 0.0 and out[4, 4] == 1.0
    assert light_ink_on_dark(out) is out  # already light on dark: untouched


def thick_zero(size: int = 40) -> np.ndarray:
    """Dark ink on light paper: a ring so thick, and cropped so tightly, that ink is most of the border."""
    ys, xs = np.indices((size, size)) - (size - 1) / 2
    r = np.hypot(ys / (size / 2), xs / (size / 2))
    return np.where((r > 0.45) & (r < 1.15), 0.1, 0.9).astype(np.float32)


def test_a_digit_filling_its_frame_gets_its_polarity_from_its_regions_not_its_border():
    zero = thick_zero()
    assert (zero[0] < 0.5).mean() > 0.5  # the border is mostly ink: the border rule alone would keep it dark
    light = light_ink_on_dark(zero)
    assert light[20, 20] == pytest.approx(0.1) and light[20, 1] == pytest.approx(0.9)  # hole dark, ring bright
    assert np.array_equal(light_ink_on_dark(light), light)  # light ink on dark paper is left as it is
    # The paper is the dark class's level, not the ink that fills most of the image and of its border.
    assert paper_level(light) == pytest.approx(0.1)
    out = mnist_digit(zero, "zero")
    assert out[14, 14] < 0.1 and out.max() == pytest.approx(1.0, abs=0.05)  # a bright ring round a dark hole


def test_regions_counts_four_connected_regions_above_a_size():
    mask = np.zeros((9, 9), bool)
    mask[1:3, 1:3] = mask[5:8, 5:8] = True  # 4 and 9 pixels
    mask[0, 8] = True  # a speck
    assert regions(mask, 1) == 3 and regions(mask, 4) == 2 and regions(mask, 5) == 1
    assert regions(~mask, 1) == 1 and regions(np.zeros((3, 3), bool), 1) == 0
    diagonal = np.eye(5, dtype=bool)  # touching corners only: five regions under 4-connectivity
    assert regions(diagonal, 1) == 5
    spiral = np.ones((7, 7), bool)  # one long winding region: the labels must travel its whole length
    spiral[1, 0:6] = spiral[1:6, 5] = spiral[5, 1:6] = spiral[3:6, 1] = spiral[3, 1:4] = False
    assert regions(spiral, 1) == 1 and regions(~spiral, 1) == 1


def test_blank_image_is_rejected_with_its_name():
    with pytest.raises(InputError, match="blank.png: the image is blank"):
        mnist_digit(np.full((50, 50), 0.7, np.float32), "blank.png")


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "1", "CMYK"])
def test_modes_give_same_luminance(mode):
    x = np.zeros((32, 32), np.uint8)
    x[8:24, 12:20] = 255
    img = Image.fromarray(x).convert(mode)
    gray = to_grayscale(roundtrip(img, "TIFF" if mode == "CMYK" else "PNG"))
    assert gray.shape == (32, 32)
    np.testing.assert_allclose(gray, x / 255.0, atol=0.02)


def test_sixteen_bit_image_uses_full_range():
    x = np.zeros((20, 20), np.uint16)
    x[5:15, 8:12] = 65535
    gray = to_grayscale(roundtrip(Image.fromarray(x)))
    assert gray.max() == pytest.approx(1.0) and gray.min() == 0.0


@pytest.mark.parametrize("ink", [(0, 0, 0), (255, 255, 255)])
def test_transparent_canvas_keeps_strokes_of_any_colour(ink):
    """A browser canvas: strokes on transparent pixels whose RGB is (0, 0, 0)."""
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 18:22, :3] = ink
    rgba[10:30, 18:22, 3] = 255
    out = mnist_digit(to_grayscale(roundtrip(Image.fromarray(rgba, "RGBA"))), "canvas")
    assert out.max() > 0.9 and out.sum() > 10  # the stroke survived as ink
    assert out[0, 0] == 0.0


@pytest.mark.parametrize(
    "style, least",
    [("tight", 0.95), ("frame-filling", 0.88), ("frame-filling-light", 0.88), ("thin", 0.9), ("pencil", 0.95)],
)
def test_real_world_digits_are_read_not_refused(mnist_test, style, least):
    """Frame-filling digits (more ink than paper, ink along most of the border) get their polarity right and
    are read; the committed LeNet-5 recognises them (very thick strokes close some loops, hence the lower bar)."""
    import onnxruntime as ort
    from tests_support import MODELS

    from core.model_folders import latest_version

    images, labels = mnist_test
    inputs = []
    for d in images[:100]:
        img = scanned(d, style)
        if style.startswith("frame-filling"):
            assert (np.asarray(img) < 128).mean() > 0.4 or (np.asarray(img) > 128).mean() > 0.4  # ink-heavy frame
        inputs.append((mnist_digit(to_grayscale(img), style) - 0.1307) / 0.3081)
    session = ort.InferenceSession(
        str(latest_version(MODELS / "lenet5-mnist") / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    predicted = session.run(None, {"image": np.stack(inputs)[:, None].astype(np.float32)})[0].argmax(1)
    assert float((predicted == labels[:100]).mean()) >= least
