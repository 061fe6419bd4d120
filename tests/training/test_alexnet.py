"""The AlexNet-style CNN: Figure 3's layer layout at 32x32, larger inputs, mirror averaging, ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from training.export import assert_parity, cpu_session, export_image_graph
from training.models.alexnet import AlexNet, AlexNetConfig, FlipAveraged


def test_five_convolutions_pooled_after_the_first_second_and_fifth():
    model = AlexNet(AlexNetConfig())
    kinds = [type(m).__name__ for m in model.features if isinstance(m, nn.Conv2d | nn.MaxPool2d)]
    assert kinds == ["Conv2d", "MaxPool2d", "Conv2d", "MaxPool2d", "Conv2d", "Conv2d", "Conv2d", "MaxPool2d"]
    assert model.features(torch.zeros(2, 3, 32, 32)).shape == (2, 256, 4, 4)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    dropouts = [m for m in model.classifier if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 2 and all(d.p == 0.25 for d in dropouts)


def test_larger_and_grayscale_inputs_keep_the_classifier_size():
    small = AlexNet(AlexNetConfig(num_classes=4, channels=1, image_size=32))
    large = AlexNet(AlexNetConfig(num_classes=4, channels=1, image_size=128))
    assert large(torch.zeros(1, 1, 128, 128)).shape == (1, 4)
    assert sum(p.numel() for p in small.classifier.parameters()) == sum(
        p.numel() for p in large.classifier.parameters()
    )


@pytest.mark.parametrize(
    "kw, message",
    [({"widths": [8, 8]}, "five convolutional"), ({"image_size": 36}, "multiple of 8"), ({"image_size": 48}, "of 32")],
)
def test_bad_configs_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        AlexNet(AlexNetConfig(**kw))


def test_flip_averaging_is_the_mean_over_the_mirror_image():
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(widths=[8] * 5, hidden=16)).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = (model(x) + model(x.flip(3))) / 2
        torch.testing.assert_close(FlipAveraged(model)(x), expected)
        torch.testing.assert_close(FlipAveraged(model)(x.flip(3)), expected, atol=1e-5, rtol=0)  # mirror-invariant


@pytest.mark.parametrize("side", [32, 64])
def test_onnx_parity_at_batch_1_7_and_64(tmp_path, side):
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(widths=[16, 16, 32, 32, 32], hidden=32, image_size=side)).eval()
    graph = FlipAveraged(model)
    export_image_graph(graph, (3, side), tmp_path / "m.onnx")
    session = cpu_session(tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    for b in (1, 7, 64):
        x = rng.standard_normal((b, 3, side, side)).astype(np.float32)
        assert assert_parity(graph, session, {"image": x}, atol=1e-4) <= 1e-4
