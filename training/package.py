"""From PyTorch to a served model: export an `nn.Module` to ONNX with a dynamic batch axis, check onnxruntime
against PyTorch at several batch sizes, then package it as `dlserve package` does (core/packaging/).

    from training.package import package_module
    package_module(net, torch.zeros(1, 3, 32, 32), "my-net", labels=["cat", "dog"],
                   recipe={"resize_shorter": 36, "crop": (32, 32)}, model_dir="models")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import torch
from torch import nn

from core.manifest import ImageRecipe
from core.packaging import Packaged, package_classifier, package_tensor
from training.export import assert_parity, cpu_session, export_onnx

PARITY_BATCHES = (1, 7, 64)
REFERENCE_ROWS = 2


def batch_of(examples: Sequence[torch.Tensor], rows: int, names: Sequence[str], seed: int = 0) -> dict[str, np.ndarray]:
    """`rows` rows for each input: seeded normal floats; integers and booleans repeat the example's rows (token
    ids and lengths must stay valid for the model)."""
    gen = torch.Generator().manual_seed(seed)
    feeds = {}
    for name, x in zip(names, examples, strict=True):
        if x.is_floating_point():
            feeds[name] = torch.randn((rows, *x.shape[1:]), generator=gen, dtype=x.dtype).numpy()
        else:
            feeds[name] = x[torch.arange(rows) % len(x)].numpy()
    return feeds


def tensor_names(count: int, stem: str) -> list[str]:
    return [stem] if count == 1 else [f"{stem}_{i}" for i in range(count)]


def package_module(
    module: nn.Module,
    example: torch.Tensor | tuple[torch.Tensor, ...],
    name: str,
    *,
    model_dir: Path | str,
    labels: list[str] | Path | str | None = None,
    recipe: ImageRecipe | dict[str, Any] | None = None,
    version: int | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = PARITY_BATCHES,
    atol: float = 1e-4,
) -> Packaged:
    """Export `module` (put in eval mode) on `example` (one tensor or a tuple, the batch on axis 0), check that
    onnxruntime matches PyTorch within `atol` at each of `batch_sizes` (ParityError if not), and package it: an
    image classifier served on /v1/classify when `labels` and its image `recipe` are given, else a tensor model
    served on /v2. Raises core.packaging.PackageError as `dlserve package` reports it."""
    examples = example if isinstance(example, tuple) else (example,)
    if (labels is None) != (recipe is None):
        raise ValueError("a classifier needs both its labels and its image recipe; a tensor model neither")
    module.eval()
    with torch.no_grad():
        out = module(*examples)
    outputs = len(out) if isinstance(out, tuple) else 1
    classify = labels is not None
    input_names = list(input_names or (["image"] if classify else tensor_names(len(examples), "input")))
    output_names = list(output_names or (["logits"] if classify else tensor_names(outputs, "output")))
    dynamic = {n: {0: "batch"} for n in (*input_names, *output_names)}
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.onnx"
        export_onnx(module, examples, path, input_names, output_names, dynamic)
        session = cpu_session(path)
        diffs = {b: assert_parity(module, session, batch_of(examples, b, input_names), atol) for b in batch_sizes}
        extra = {
            "description": f"{type(module).__name__}, exported from PyTorch and packaged by training/package.py",
            "parity": {"max_abs_diff": max(diffs.values()), "batch_sizes": list(batch_sizes)},
        }
        if classify:
            assert labels is not None and recipe is not None
            return package_classifier(path, name, labels, recipe, model_dir, version, extra=extra)
        reference = batch_of(examples, REFERENCE_ROWS, input_names)
        return package_tensor(path, name, model_dir, version, inputs=reference, extra=extra)
