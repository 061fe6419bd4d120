"""ONNX export with dynamic axes, a numerical parity check against onnxruntime, and manifest writing (the graph
specs and the reference pair come from core/graph_specs.py, which `dlserve package` shares)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from core.graph_specs import cpu_session as cpu_session  # the training code's sessions, as the packager's
from training.curves import stages_of, write_curves
from training.paths import REPO_ROOT


class ParityError(AssertionError):
    """onnxruntime's output differs from PyTorch's by more than the tolerance."""


def export_onnx(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int = 17,
) -> None:
    """Export with the legacy (TorchScript) exporter: fast, and solid on RNNs; weights embedded in the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    torch.onnx.export(
        module,
        example,
        str(path),
        input_names=list(input_names),
        output_names=list(output_names),
        dynamic_axes=dynamic_axes,
        opset_version=opset,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(path)))


def run_both(
    module: nn.Module, session: ort.InferenceSession, inputs: dict[str, np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Outputs of PyTorch and onnxruntime for the same named inputs, in output order."""
    with torch.no_grad():
        out = module(*(torch.from_numpy(v) for v in inputs.values()))
    torch_out = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
    used = {i.name for i in session.get_inputs()}  # the exporter drops inputs a graph does not use
    return torch_out, session.run(None, {k: v for k, v in inputs.items() if k in used})


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b, strict=True))


def assert_parity(
    module: nn.Module, session: ort.InferenceSession, inputs: dict[str, np.ndarray], atol: float
) -> float:
    """Raise ParityError when any output differs by more than `atol`; return the max abs difference."""
    torch_out, ort_out = run_both(module, session, inputs)
    diff = max_abs_diff(torch_out, ort_out)
    shapes = {k: v.shape for k, v in inputs.items()}
    if diff > atol:
        raise ParityError(f"onnxruntime differs from PyTorch by {diff:.3g} > {atol} for inputs {shapes}")
    return diff


def code_commit() -> str:
    """The git commit the artifact was built from, marked `-dirty` when the tree had changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "training"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_manifest(model_dir: Path, manifest: dict[str, Any]) -> Path:
    """manifest.json, plus the learning curves (curves.json, curves.png) when it records a training history."""
    path = model_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    stages = stages_of(manifest)
    if any(stages.values()):
        write_curves(model_dir, stages, f"{manifest['name']} v{manifest['version']}")
    return path


def export_image_graph(graph: torch.nn.Module, geometry: tuple[int, int], path: Path) -> None:
    """An image classifier's graph: `image` (batch, channels, side, side) -> `logits` (batch, classes)."""
    channels, side = geometry
    example = torch.zeros(2, channels, side, side)
    export_onnx(graph, (example,), path, ["image"], ["logits"], {"image": {0: "batch"}, "logits": {0: "batch"}})
