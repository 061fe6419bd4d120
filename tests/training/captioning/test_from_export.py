"""Rebuilding a captioner's PyTorch modules from its exported folder: the rebuilt modules compute what the graphs
compute, and `import_run` writes stage checkpoints that export and training read like their own."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from core.graph_specs import cpu_session
from training.captioning.from_export import captioner_from_export, import_run
from training.models.captioner import DecoderStepGraph, EncoderGraph
from training.tokenization import train_words

STAGES = {"encoder": 25, "decoder": 8, "finetune": 6}


def with_training_record(export) -> None:
    """The `training` section `dlserve export` writes, which the rebuild reads the model's configuration from."""
    stages = {s: {"history": [{"epoch": e + 1} for e in range(n)], "steps": 10 * n, "seconds": 60.0 * n}
              for s, n in STAGES.items()}  # fmt: skip
    export.manifest["training"] = {"model_config": asdict(export.decoder.c), "stages": stages}
    (export.folder / "manifest.json").write_text(json.dumps(export.manifest))


def test_rebuilt_modules_match_the_graphs(captioner_export):
    export = captioner_export()
    with_training_record(export)
    model = captioner_from_export(export.folder)
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    onnx_out = cpu_session(export.folder / "encoder.onnx").run(None, {"image": x})
    with torch.no_grad():
        torch_out = EncoderGraph(model.encoder, model.decoder)(torch.from_numpy(x))
    for a, b in zip(onnx_out, torch_out, strict=True):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5)
    regions, keys, state = onnx_out
    tokens = np.array([1, 7, 30])
    step = cpu_session(export.folder / "decoder_step.onnx").run(
        None, {"tokens": tokens, "state": state, "regions": regions, "keys": keys}
    )
    with torch.no_grad():
        graph = DecoderStepGraph(model.decoder, [0, 1, 3])
        torch_step = graph(*(torch.from_numpy(v) for v in (tokens, state, regions, keys)))
    for a, b in zip(step, torch_step, strict=True):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5)


def test_import_run_writes_each_stage_with_its_record(captioner_export, tmp_path):
    export = captioner_export()
    with_training_record(export)
    run = tmp_path / "run"
    tokenizer = train_words([" ".join(f"w{i}" for i in range(36))] * 2, 1)
    import_run(export.folder, run, tokenizer)
    for stage, epochs in STAGES.items():
        ckpt = torch.load(run / stage / "checkpoint.pt", weights_only=False)
        assert len(ckpt["history"]["epochs"]) == epochs and ckpt["history"]["train_seconds"] == 60.0 * epochs
        assert ckpt["imported_from"] == str(export.folder)
    whole = torch.load(run / "finetune" / "checkpoint.pt", weights_only=False)["state_dict"]
    assert torch.equal(whole["decoder.out.weight"], export.decoder.out.weight)
    assert (run / "tokenizer.json").read_text() == (export.folder / "tokenizer.json").read_text()
    with pytest.raises(SystemExit, match="already has checkpoints"):
        import_run(export.folder, run, tokenizer)


def test_import_run_refuses_another_vocabulary(captioner_export, tmp_path):
    export = captioner_export()
    with_training_record(export)
    with pytest.raises(SystemExit, match="vocabulary differs"):
        import_run(export.folder, tmp_path / "run", train_words(["some other words entirely"] * 2, 1))
    assert not (tmp_path / "run").exists()


def test_import_run_refuses_a_folder_without_a_manifest(tmp_path):
    with pytest.raises(SystemExit, match="no manifest.json there"):
        import_run(tmp_path / "models" / "captioner" / "9", tmp_path / "run", train_words(["a b"] * 2, 1))
    assert not (tmp_path / "run").exists()
