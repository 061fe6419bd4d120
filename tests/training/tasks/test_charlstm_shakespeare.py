"""`charlstm-shakespeare` end to end on a tiny model: a dry run trains, export writes a folder the service loads,
evaluate measures it as export did."""

from __future__ import annotations

import json

import torch

from training.cli import run

NAME = "charlstm-shakespeare"
TINY = ["--hidden-size", "32", "--layers", "1", "--embed-dim", "16", "--bptt", "32", "--batch-size", "16"]


def test_dry_run_export_serve_and_evaluate(tmp_path, data_dir, serve_and_evaluate, quantize_and_serve):
    runs, out = tmp_path / "run", tmp_path / "models" / NAME / "2"
    run("train", NAME, ["--dry-run", "--no-progress", "--max-steps", "3", "--run-dir", str(runs), "--data-dir",
                        str(data_dir), *TINY])  # fmt: skip
    record = json.loads((runs / "train_args.json").read_text())
    assert record == {"batch_size": 16, "lr": 2e-3, "optimizer": "AdamW + OneCycleLR", "bptt": 32, "grad_clip": 1.0}
    ckpt = torch.load(runs / "checkpoint.pt", weights_only=False)
    assert ckpt["scheduler"]["total_steps"] == (20_000 // 16 - 32) // 32 + 1  # one epoch of the dry-run subset
    run("export", NAME, ["--checkpoint", str(runs / "checkpoint.pt"), "--out", str(out), "--data-dir", str(data_dir),
                         "--eval-limit", "300"])  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    assert (m["name"], m["version"], m["task"], sorted(m["graphs"])) == (NAME, 2, "generate", ["prefill", "step"])
    assert len(m["vocab"]) == 65 and m["state"] == {"num_layers": 1, "hidden_size": 32, "names": ["h", "c"]}
    assert m["metrics"]["val_characters"] == 300 and m["parity"]["rollout_50"] <= 1e-3
    assert m["training"]["steps"] == 3 and m["training"]["bptt"] == 32 and m["reference"]["graph"] == "step"
    assert m["dataset"]["files"] == {
        "input.txt": "sha256:86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    }
    scores = serve_and_evaluate(out, "--eval-limit", "300")
    assert scores["model"] == NAME and scores["val_characters"] == 300
    assert round(scores["val_loss_nats_per_char"], 4) == m["metrics"]["val_loss_nats_per_char"]
    q = quantize_and_serve(out, "--eval-limit", "300")  # int8 beside float: both scored on the same characters
    assert q["quantization"]["graphs"]["step"]["integer_ops"] == {"DynamicQuantizeLSTM": 1, "MatMulInteger": 1}
    float_loss, int8_loss = (q["quantization"]["scores"][k]["val_loss_nats_per_char"] for k in ("float", "int8"))
    assert round(float_loss, 4) == m["metrics"]["val_loss_nats_per_char"] and abs(int8_loss - float_loss) < 0.05
    parameters = m["metrics"]["parameters"]
    assert q["metrics"] == {"val_loss_nats_per_char": int8_loss, "val_characters": 300, "parameters": parameters}
    assert q["quantization"]["summary"]["speed"]["unit"] == "tokens/s (16 streams, 64 steps each)"
    # dynamic: its activation scales follow the batch, so a request's text would depend on its neighbours
    assert q["quantization"]["summary"]["batch_invariant"] is False and q["opt_in"] is True
