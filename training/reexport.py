"""export --from-version N without --quantize: a committed version's weights, read back from its graphs, exported
again by this code. It gives an exported network a new graph form (LeNet-5's test-time views sharing their
work) without its training run, which a model folder does not keep.

The weights are the graphs' initializers, matched to the model's state dict by name (an exported wrapper's
prefix, such as `model.`, dropped) and shape. A model whose export renames or transforms its weights (fused
batch norms, ONNX's own GRU layout, int8) has no such match, and is refused with the names that are missing.
The version's training record is carried over, with `reexported_from` naming the version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx
import torch
from onnx import numpy_helper

from training import quantize

if TYPE_CHECKING:
    from training.tasks.base import Task


def source(task: Task) -> Path | None:
    """The version folder to re-export, or None when export reads a training checkpoint."""
    if getattr(task.args, "from_version", None) is None or getattr(task.args, "quantize", None):
        return None
    if getattr(task.args, "average_last", 1) != 1:
        raise SystemExit("error: --average-last reads a run's snapshots; --from-version re-exports a version as is")
    src = quantize.source_folder(task)
    if task.out_dir.resolve() == src.resolve():
        raise SystemExit(f"error: --out is the version being re-exported ({src}); name a new folder")
    return src


def checkpoint(task: Task, folder: Path) -> dict[str, Any]:
    """What export reads from a checkpoint (config, state_dict), rebuilt from a version folder, plus its record."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if "quantization" in manifest:
        raise SystemExit(f"error: {folder} is an int8 copy; re-export the float version it was made from")
    record = manifest.get("training", {})
    if "model_config" not in record:
        raise SystemExit(f"error: {folder}'s manifest has no training.model_config to rebuild the model from")
    model = task.model_class(task.config_class(**record["model_config"]))
    graphs = [folder / g["file"] for g in manifest["graphs"].values()]
    state = state_dict_from_graphs(model.state_dict(), graphs)
    return {"config": record["model_config"], "state_dict": state, "record": {**record, "reexported_from": folder.name}}


def state_dict_from_graphs(expected: dict[str, torch.Tensor], graphs: list[Path]) -> dict[str, torch.Tensor]:
    """Each of `expected`'s tensors from the one initializer named like it (exactly, or ending in `.<name>`)."""
    found: dict[str, list[torch.Tensor]] = {key: [] for key in expected}
    for path in graphs:
        for init in onnx.load(str(path)).graph.initializer:
            for key in expected:
                if init.name == key or init.name.endswith(f".{key}"):
                    found[key].append(torch.from_numpy(numpy_helper.to_array(init).copy()))
    bad = [key for key, ts in found.items() if len(ts) != 1 or ts[0].shape != expected[key].shape]
    if bad:
        raise SystemExit(
            f"error: the graphs do not hold these weights under their names (one initializer each, same shape): "
            f"{', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}; this model cannot be re-exported from a version"
        )
    return {key: ts[0] for key, ts in found.items()}
