"""LeNet-5's shapes and size, its test-time views, and ONNX parity at batch 1, 7 and 64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.graph_specs import io_spec
from training.export import assert_parity, cpu_session, export_onnx
from training.models.lenet import SHIFTS, LeNet5, LeNetConfig, ShiftAveraged


def test_shapes_and_parameter_count():
    model = LeNet5(LeNetConfig())
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    # C1 156 + C3 2416 + C5 48120 + F6 10164 + output 850 (full C3 connectivity, as modern LeNets use)
    assert sum(p.numel() for p in model.parameters()) == 61706


def test_padding_is_background():
    model = LeNet5(LeNetConfig()).eval()
    background = torch.full((1, 1, 28, 28), -0.1307 / 0.3081)
    padded = torch.nn.functional.pad(background, (2, 2, 2, 2), value=model.pad_value)
    assert torch.allclose(padded, torch.full((1, 1, 32, 32), -0.1307 / 0.3081))


def test_export_parity_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = LeNet5(LeNetConfig(activation="tanh", pooling="avg")).eval()
    path = tmp_path / "lenet.onnx"
    export_onnx(
        model, (torch.zeros(2, 1, 28, 28),), path, ["image"], ["logits"], {"image": {0: "b"}, "logits": {0: "b"}}
    )
    session = cpu_session(path)
    assert io_spec(session)["inputs"] == [{"name": "image", "dtype": "float32", "shape": [-1, 1, 28, 28]}]
    rng = np.random.default_rng(0)
    for batch in (1, 7, 64):
        x = rng.normal(size=(batch, 1, 28, 28)).astype(np.float32)
        assert assert_parity(model, session, {"image": x}, atol=1e-4) <= 1e-4


def test_batch_norm_variant_exports_with_its_running_statistics(tmp_path):
    torch.manual_seed(0)
    model = LeNet5(LeNetConfig(batch_norm=True))
    # 2 x (6 + 16 + 120 + 84) scales and shifts on top of LeNet-5's own parameters
    assert sum(p.numel() for p in model.parameters()) == 61706 + 2 * 226
    model.train()
    for _ in range(3):  # move the running statistics away from their initial values
        model(torch.randn(32, 1, 28, 28) * 2 + 1)
    model.eval()
    assert not torch.allclose(model.n1.running_mean, torch.zeros(6))
    path = tmp_path / "lenet-bn.onnx"
    export_onnx(
        model, (torch.zeros(2, 1, 28, 28),), path, ["image"], ["logits"], {"image": {0: "b"}, "logits": {0: "b"}}
    )
    session = cpu_session(path)
    rng = np.random.default_rng(1)
    for batch in (1, 7, 64):
        x = rng.normal(size=(batch, 1, 28, 28)).astype(np.float32)
        assert assert_parity(model, session, {"image": x}, atol=1e-4) <= 1e-4


def test_models_without_batch_norm_keep_their_state_dict_keys():
    keys = set(LeNet5(LeNetConfig()).state_dict())
    assert keys == {f"{layer}.{p}" for layer in ("c1", "c3", "c5", "f6", "out") for p in ("weight", "bias")}


def moved(model: LeNet5, x: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """The network on the digit moved (down, right) inside the 32x32 canvas LeNet5.forward pads it to; the
    canvas's border is background, so nothing wraps around and no ink leaves it."""
    canvas = torch.roll(torch.nn.functional.pad(x, (2, 2, 2, 2), value=model.pad_value), shift, dims=(2, 3))
    return model.head(model.c3_map(model.c1_map(canvas)))


@pytest.mark.parametrize("config", [LeNetConfig(), LeNetConfig(activation="tanh", pooling="avg", batch_norm=True)])
@pytest.mark.parametrize("kind", sorted(SHIFTS))
def test_shift_averaging_is_the_mean_of_the_moved_digits_and_exports_with_a_dynamic_batch(tmp_path, kind, config):
    torch.manual_seed(0)
    model = LeNet5(config)
    for p in model.modules():  # batch norms with statistics of their own, so the test sees them applied
        if isinstance(p, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            p.running_mean.uniform_(-0.5, 0.5)
            p.running_var.uniform_(0.5, 2)
    model.eval()
    tta = ShiftAveraged(model, SHIFTS[kind]).eval()
    x = torch.randn(3, 1, 28, 28)  # ink up to the edge: moving it must not lose a row
    expected = torch.stack([moved(model, x, shift) for shift in SHIFTS[kind]]).mean(0)
    torch.testing.assert_close(tta(x), expected, rtol=1e-5, atol=1e-5)
    path = tmp_path / "tta.onnx"
    export_onnx(tta, (torch.zeros(2, 1, 28, 28),), path, ["image"], ["logits"], {"image": {0: "b"}, "logits": {0: "b"}})
    session = cpu_session(path)
    assert io_spec(session)["outputs"] == [{"name": "logits", "dtype": "float32", "shape": [-1, 10]}]
    for batch in (1, 7, 64):
        x = np.random.default_rng(batch).normal(size=(batch, 1, 28, 28)).astype(np.float32)
        assert assert_parity(tta, session, {"image": x}, atol=1e-4) <= 1e-4


def test_on_a_digit_with_a_background_border_the_moves_are_plain_one_pixel_shifts():
    torch.manual_seed(0)
    model = LeNet5(LeNetConfig()).eval()
    bg = model.pad_value
    x = torch.full((3, 1, 28, 28), bg)
    x[:, :, 1:-1, 1:-1] = torch.randn(3, 1, 26, 26)  # as MNIST's centred digits: no ink on the outer rows
    right = torch.cat([torch.full((3, 1, 28, 1), bg), x[:, :, :, :-1]], dim=3)  # the digit moved one pixel right
    down = torch.cat([torch.full((3, 1, 1, 28), bg), x[:, :, :-1, :]], dim=2)
    left = torch.cat([x[:, :, :, 1:], torch.full((3, 1, 28, 1), bg)], dim=3)
    up = torch.cat([x[:, :, 1:, :], torch.full((3, 1, 1, 28), bg)], dim=2)
    expected = torch.stack([model(v) for v in (x, right, down, left, up)]).mean(0)
    torch.testing.assert_close(ShiftAveraged(model)(x), expected, rtol=1e-5, atol=1e-5)


def test_shifts_beyond_one_pixel_are_refused():
    with pytest.raises(ValueError, match="within one pixel"):
        ShiftAveraged(LeNet5(LeNetConfig()), ((0, 0), (2, 0)))
