"""The digit styles people send, and a committed LeNet-5's accuracy on each through the service's recipe."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tests_support import MODELS

from core.model_folders import latest_version
from training.digit_styles import STYLES, accuracy, main, upload


@pytest.mark.parametrize("style", list(STYLES))
def test_each_style_is_the_file_it_claims_to_be(mnist_test, style):
    img = Image.open(io.BytesIO(upload(mnist_test[0][0], style)))
    assert img.format == ("JPEG" if style in ("photo", "off-centre") else "PNG")
    gray = np.asarray(img.convert("L"))
    if style == "png":
        assert gray.shape == (28, 28)
    elif style == "off-centre":
        assert gray.shape == (480, 640) and gray[:100].min() > 200  # the digit is not near the top
    elif style.startswith("frame-filling"):
        ink = gray < 128 if style == "frame-filling" else gray > 128
        assert ink.mean() > 0.4  # more ink than a digit in a margin would leave
    elif style == "pencil":
        assert gray.min() >= 160  # a quarter of the contrast


def test_a_committed_lenet_reads_the_common_styles_and_an_untrained_answer_would_not(mnist_test, tmp_path):
    images, labels = mnist_test
    folder = latest_version(MODELS / "lenet5-mnist")
    for style in ("png", "photo", "off-centre"):
        assert accuracy(folder, [upload(d, style) for d in images[:50]], labels[:50]) >= 0.95
    assert accuracy(folder, [upload(d, "png") for d in images[:50]], (labels[:50] + 1) % 10) < 0.1


def test_a_folder_without_a_manifest_exits_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path)])
    assert e.value.code == 2 and "no manifest.json" in capsys.readouterr().err
