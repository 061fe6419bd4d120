"""`dlserve train|export alexnet-cifar10` for a few steps: the manifest the service loads, with the general image
recipe, mirror averaging in the graph, parity at batch 1/7/64 and the measured scores."""

from __future__ import annotations

import json
import subprocess
import sys

from service.repository import ModelRepository, Status
from service.settings import Settings
from training.data import cifar10


def dlserve(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dry_run_train_export_and_load(tmp_path, data_dir):
    run, out = tmp_path / "run", tmp_path / "models" / "alexnet-cifar10" / "1"
    dlserve(
        "train", "alexnet-cifar10", "--dry-run", "--run-dir", str(run), "--data-dir", str(data_dir), "--no-progress"
    )
    dlserve("export", "alexnet-cifar10", "--checkpoint", str(run / "checkpoint.pt"), "--out", str(out),
            "--data-dir", str(data_dir), "--eval-limit", "300")  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    assert m["labels"] == list(cifar10.CLASSES) and m["test_time_augmentation"].startswith("mean logits")
    assert m["preprocessing"]["kind"] == "image" and m["preprocessing"]["resize"] == [32, 32]
    assert m["parity"]["batch_sizes"] == [1, 7, 64] and m["parity"]["max_abs_diff"] <= 1e-4
    assert m["metrics"]["test_images"] == 300 and 0 <= m["metrics"]["test_accuracy_without_flip_tta"] <= 1
    assert sum(map(sum, m["evaluation"]["confusion_matrix"])) == 300 and set(
        m["evaluation"]["per_class_accuracy"]
    ) == set(cifar10.CLASSES)
    assert m["dataset"]["files"] == cifar10.checksums() and m["training"]["augment"]["horizontal_flip"] is True
    assert (out / "examples.png").is_file() and (out / "curves.png").is_file()
    repo = ModelRepository(Settings(model_dir=tmp_path / "models"))
    repo.load_all()
    assert repo.get("alexnet-cifar10").status == Status.ready
