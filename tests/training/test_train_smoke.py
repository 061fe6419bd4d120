"""The real training and export path for a few steps, then the service loads what it wrote."""

from __future__ import annotations

import json
import subprocess
import sys

from service.repository import ModelRepository, Status
from service.settings import Settings


def dlserve(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_lenet_train_resume_export_and_serve(tmp_path, data_dir):
    run = tmp_path / "run"
    dlserve("train", "lenet5-mnist", "--dry-run", "--run-dir", str(run), "--data-dir", str(data_dir), "--no-progress")
    history = json.loads((run / "history.json").read_text())
    assert history["steps"] == 5 and len(history["epochs"]) == 1
    # --resume with one more epoch continues from the checkpoint instead of starting over
    dlserve("train", "lenet5-mnist", "--run-dir", str(run), "--data-dir", str(data_dir), "--resume", "--epochs", "2",
            "--max-steps", "8", "--no-progress")  # fmt: skip
    history = json.loads((run / "history.json").read_text())
    assert history["steps"] == 8 and [e["epoch"] for e in history["epochs"]] == [1, 2]
    out = tmp_path / "models" / "lenet5-mnist" / "1"
    dlserve("export", "lenet5-mnist", "--checkpoint", str(run / "checkpoint.pt"), "--out", str(out),
            "--data-dir", str(data_dir), "--eval-limit", "200")  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "classify" and manifest["metrics"]["test_images"] == 200
    # Through the recipe as PNG uploads and on raw tensors: near each other, for a model of a few steps too.
    metrics = manifest["metrics"]
    assert 0 <= metrics["test_error_served"] <= 1 and abs(metrics["test_error_served"] - metrics["test_error"]) < 0.2
    assert set(manifest["metrics_method"]) == {"test_error", "test_error_served"}
    assert manifest["parity"]["max_abs_diff"] <= 1e-4 and manifest["parity"]["batch_sizes"] == [1, 7, 64]
    assert manifest["dataset"]["files"]["t10k-images-idx3-ubyte.gz"] == "md5:9fb629c4189551a2d022fa330f9573f3"
    assert manifest["training"]["steps"] == 8
    repo = ModelRepository(Settings(model_dir=tmp_path / "models"))
    repo.load_all()
    assert repo.get("lenet5-mnist").status == Status.ready
