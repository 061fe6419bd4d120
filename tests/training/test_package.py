"""training/package.py: a PyTorch module exported, checked against PyTorch at batch sizes 1, 7 and 64, and
packaged as `dlserve package` does; a module the export cannot follow is refused before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.graph_specs import check_reference, cpu_session
from core.model_folders import read_manifest
from training.export import ParityError
from training.package import package_module


class ChannelsLast(nn.Module):
    """A classifier trained on (N, H, W, C) images, as many OpenCV pipelines feed them."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.fc = nn.Conv2d(3, 4, 3, stride=2), nn.Linear(4 * 7 * 7, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x.permute(0, 3, 1, 2))).flatten(1))


class TwoInputs(nn.Module):
    def forward(self, x: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x * k[:, None].float(), x.sum(1)


class ShapeBranch(nn.Module):
    """Takes a branch by batch size, which the exporter's trace freezes at the example's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.shape[0] == 1 else -x


def test_a_classifier_is_exported_checked_and_packaged(tmp_path):
    recipe = {"channels": "bgr", "layout": "nhwc", "resize_shorter": 20, "crop": (16, 16), "mean": [0.5], "std": [0.5]}
    packaged = package_module(ChannelsLast(), torch.zeros(1, 16, 16, 3), "bgr-net", model_dir=tmp_path,
                              labels=["red", "green", "blue"], recipe=recipe)  # fmt: skip
    manifest = read_manifest(tmp_path / "bgr-net" / "1")
    assert packaged.folder == tmp_path / "bgr-net" / "1" and manifest.task == "classify"
    assert manifest.labels == ["red", "green", "blue"] and manifest.preprocessing.layout == "nhwc"
    assert manifest.graphs["model"].inputs[0].model_dump() == {
        "name": "image",
        "dtype": "float32",
        "shape": [-1, 16, 16, 3],
    }
    assert manifest.graphs["model"].outputs[0].name == "logits" and manifest.batching.max_batch_size == 64
    parity = packaged.manifest["parity"]
    assert parity["batch_sizes"] == [1, 7, 64] and parity["max_abs_diff"] <= 1e-4
    assert manifest.description.startswith("ChannelsLast, exported from PyTorch")
    check_reference(cpu_session(packaged.folder / "model.onnx"), manifest.reference)


def test_a_tensor_model_keeps_its_example_integers_and_batches(tmp_path):
    example = (torch.zeros(1, 4), torch.tensor([3]))
    packaged = package_module(TwoInputs(), example, "two", model_dir=tmp_path, output_names=["scaled", "total"])
    manifest = read_manifest(packaged.folder)
    spec = manifest.graphs["model"]
    assert [(t.name, t.dtype, t.shape) for t in spec.inputs] == [
        ("input_0", "float32", [-1, 4]),
        ("input_1", "int64", [-1]),
    ]
    assert [t.name for t in spec.outputs] == ["scaled", "total"]
    assert manifest.task == "tensor" and manifest.batching.max_batch_size == 64
    ref = manifest.reference
    assert ref.inputs["input_1"].data == [3, 3]  # the example's integers, repeated: ids and lengths stay valid
    x = np.asarray(ref.inputs["input_0"].data, np.float32)
    np.testing.assert_allclose(ref.outputs["scaled"].data, x * 3, atol=1e-6)


def test_parity_failures_and_half_given_classifiers_write_nothing(tmp_path):
    with pytest.raises(ParityError, match=r"onnxruntime differs from PyTorch by .* for inputs \{'input': \(7, 4\)\}"):
        package_module(ShapeBranch(), torch.zeros(1, 4), "branch", model_dir=tmp_path / "models")
    with pytest.raises(ValueError, match="a classifier needs both its labels and its image recipe"):
        package_module(ChannelsLast(), torch.zeros(1, 16, 16, 3), "half", model_dir=tmp_path / "models", labels=["a"])
    assert not (tmp_path / "models").exists()
