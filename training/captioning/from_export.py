"""A captioner's PyTorch modules rebuilt from the model folder `dlserve export` wrote, so training can continue
from a served version whose run folder is gone (`dlserve train captioner-flickr8k --init-from models/NAME/V`).

The graphs hold every weight the captions depend on. The exporter folded each batch norm into the convolution
before it, so a rebuilt encoder gets the folded kernel, and a batch norm that only adds the folded bias
(running mean 0, variance 1 - eps, scale 1): in eval mode it computes exactly what the graph does. The
occurrence head of stage 1 is not part of the graphs and stays at its initial weights; nothing served uses it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from tokenizers import Tokenizer

from training.models.captioner import Captioner, CaptionerConfig

STAGE_MODULES = {"encoder": "encoder", "decoder": "decoder", "finetune": None}  # None: the whole captioner


def _weights(path: Path) -> tuple[onnx.GraphProto, dict[str, np.ndarray]]:
    graph = onnx.load(str(path)).graph
    return graph, {t.name: numpy_helper.to_array(t) for t in graph.initializer}


def _matmul_weight(graph: onnx.GraphProto, weights: dict[str, np.ndarray]) -> torch.Tensor:
    """The one unnamed MatMul weight of a graph (the exporter stores a bias-free Linear as W^T), as W."""
    names = [n.input[1] for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    unnamed = [n for n in names if not n.startswith("decoder.")]
    if len(unnamed) != 1:
        raise ValueError(f"expected one unnamed MatMul weight in {graph.name}, found {unnamed}")
    return torch.from_numpy(weights[unnamed[0]].T.copy())


def captioner_from_export(folder: Path) -> Captioner:
    """The exported captioner in `folder` as a PyTorch module (eval mode) computing what its graphs compute."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    cfg = dict(manifest["training"]["model_config"])
    cfg["channels"] = tuple(cfg["channels"])
    model = Captioner(CaptionerConfig(**cfg)).eval()
    enc_graph, enc_w = _weights(Path(folder) / manifest["graphs"]["encoder"]["file"])
    step_graph, step_w = _weights(Path(folder) / manifest["graphs"]["decoder_step"]["file"])
    state = {k.removeprefix("decoder."): torch.from_numpy(v.copy()) for k, v in {**enc_w, **step_w}.items()
             if k.startswith("decoder.")}  # fmt: skip
    state["keys.weight"] = _matmul_weight(enc_graph, enc_w)
    state["score.weight"] = _matmul_weight(step_graph, step_w)
    model.decoder.load_state_dict(state)
    convs = [n for n in enc_graph.node if n.op_type == "Conv"]
    layers = [m for m in model.encoder.features if isinstance(m, torch.nn.Conv2d | torch.nn.BatchNorm2d)]
    if len(convs) * 2 != len(layers):
        raise ValueError(f"{folder}: {len(convs)} convolutions in encoder.onnx, the model has {len(layers) // 2}")
    with torch.no_grad():
        for node, conv, bn in zip(convs, layers[::2], layers[1::2], strict=True):
            conv.weight.copy_(torch.tensor(enc_w[node.input[1]]))
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.tensor(enc_w[node.input[2]]))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    return model


def import_run(folder: Path, run: Path, tokenizer: Tokenizer) -> None:
    """Write the stage checkpoints of the exported captioner in `folder` into run folder `run`: its weights
    (rebuilt from the graphs) and the training record of each stage from its manifest, as if trained there.
    `tokenizer` (the one training builds) must be the folder's, word for word."""
    folder, run = Path(folder), Path(run)
    if not (folder / "manifest.json").is_file():
        raise SystemExit(f"--init-from {folder}: no manifest.json there; name an exported version, models/NAME/V")
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("task") != "caption":
        raise SystemExit(f"--init-from {folder}: not a captioner (task {manifest.get('task')!r})")
    served = Tokenizer.from_file(str(folder / manifest["tokenizer"]))
    if served.get_vocab() != tokenizer.get_vocab():
        raise SystemExit(f"--init-from {folder}: its vocabulary differs from the one training builds from the data")
    existing = [s for s in STAGE_MODULES if (run / s / "checkpoint.pt").exists()]
    if existing:
        raise SystemExit(f"--init-from {folder}: {run} already has checkpoints of {existing}; use a new --run-dir")
    model = captioner_from_export(folder)
    config = asdict(model.decoder.c)
    for stage, record in manifest["training"]["stages"].items():
        module = model if STAGE_MODULES[stage] is None else getattr(model, STAGE_MODULES[stage])
        history = {"epochs": record["history"], "steps": record["steps"], "train_seconds": record["seconds"],
                   "cpu_seconds": record.get("cpu_seconds", 0.0)}  # fmt: skip
        ckpt: dict[str, Any] = {"state_dict": module.state_dict(), "config": config, "history": history,
                                "imported_from": str(folder)}  # fmt: skip
        (run / stage).mkdir(parents=True, exist_ok=True)
        torch.save(ckpt, run / stage / "checkpoint.pt")
    shutil.copyfile(folder / manifest["tokenizer"], run / "tokenizer.json")
