"""`dlserve train|export|evaluate image-folder` end to end on a tiny generated folder: trained, exported,
served by the real server and classified over HTTP; bad folders and names exit non-zero, writing nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from tests_support import png, start_server, stop_server

COLOURS = {"blue": (30, 40, 220), "green": (30, 200, 40), "red": (220, 30, 30)}


def dlserve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True)


def colour_folder(root: Path, per_class: int = 24) -> Path:
    """Noisy solid-colour photos of assorted sizes, modes and formats, one class per colour."""
    rng = np.random.default_rng(0)
    for name, rgb in COLOURS.items():
        d = root / "train" / name
        d.mkdir(parents=True)
        for i in range(per_class):
            w, h = rng.integers(16, 80, 2)
            img = Image.fromarray(np.clip(rng.normal(0, 20, (h, w, 3)) + rgb, 0, 255).astype(np.uint8))
            (img.convert("RGBA") if i % 3 == 1 else img).save(d / f"{i}.{'jpg' if i % 3 == 2 else 'png'}")
    return root


def test_train_export_evaluate_and_serve(tmp_path):
    data, run, models = colour_folder(tmp_path / "data"), tmp_path / "runs" / "colours", tmp_path / "models"
    common = ["--name", "colours"]
    train = ["train", "image-folder", "--data-dir", str(data), *common, "--batch-size", "16", "--run-dir", str(run),
             "--no-progress", "--lr", "0.02", "--epochs", "6"]  # fmt: skip
    r = dlserve(*train, "--max-steps", "12")  # stops part-way: 4 steps an epoch
    assert r.returncode == 0, r.stderr
    r = dlserve(*train, "--resume")  # continues from the checkpoint of epoch 3
    assert r.returncode == 0 and "resumed from" in r.stdout and "at epoch 3" in r.stdout, r.stdout + r.stderr
    assert [e["epoch"] for e in json.loads((run / "history.json").read_text())["epochs"]] == [1, 2, 3, 4, 5, 6]
    ckpt = ["--checkpoint", str(run / "checkpoint.pt")]
    r = dlserve("export", "image-folder", *common, *ckpt, "--model-dir", str(models))
    assert r.returncode == 0, r.stderr
    manifest = json.loads((models / "colours" / "1" / "manifest.json").read_text())
    assert manifest["labels"] == sorted(COLOURS) and manifest["preprocessing"]["kind"] == "image"
    assert manifest["parity"]["batch_sizes"] == [1, 7, 64] and manifest["parity"]["max_abs_diff"] <= 1e-4
    assert manifest["training"]["val_from"] == "10% of train, stratified" and manifest["training"]["val_images"] == 6
    assert len(manifest["evaluation"]["confusion_matrix"]) == 3
    assert (models / "colours" / "1" / "curves.png").is_file() and (models / "colours" / "1" / "examples.png").is_file()
    r = dlserve("export", "image-folder", *common, *ckpt, "--model-dir", str(models))  # a second export: version 2
    assert r.returncode == 0 and (models / "colours" / "2" / "manifest.json").is_file()
    r = dlserve("evaluate", "image-folder", *common, *ckpt, "--model-dir", str(models), "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["test_images"] == 6

    server = start_server(models, tmp_path / "server.log")
    try:
        photos = {name: np.full((50, 70, 3), rgb, np.uint8) for name, rgb in COLOURS.items()}
        files = [("files", (f"{n}.png", png(a), "image/png")) for n, a in photos.items()]
        reply = httpx.post(f"{server.url}/v1/classify", params={"model": "colours"}, files=files, timeout=30)
        assert reply.status_code == 200, reply.text
        assert [res["predictions"][0]["label"] for res in reply.json()["results"]] == list(photos)
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "is empty"),
        ({"train/only/a.png": True}, "need at least two"),
        ({"train/a/x.png": True, "train/b/bad.png": False}, r"1 image\(s\) Pillow cannot read"),
    ],
)
def test_bad_folders_exit_non_zero_before_training_and_write_nothing(tmp_path, layout, message):
    data = tmp_path / "data"
    data.mkdir()
    for rel, good in layout.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(png(np.zeros((4, 4, 3), np.uint8)) if good else b"junk")
    run = tmp_path / "run"
    r = dlserve("train", "image-folder", "--data-dir", str(data), "--name", "x", "--run-dir", str(run))
    assert r.returncode != 0 and re.search(message, r.stderr), r.stderr
    assert not run.exists()


def test_an_invalid_name_or_size_is_refused(tmp_path):
    colour_folder(tmp_path / "data", per_class=2)
    r = dlserve("train", "image-folder", "--data-dir", str(tmp_path / "data"), "--name", "Bad Name")
    assert r.returncode != 0 and "invalid model name 'Bad Name'" in r.stderr
    r = dlserve("train", "image-folder", "--data-dir", str(tmp_path / "data"), "--name", "ok", "--arch", "lenet5",
                "--image-size", "32", "--run-dir", str(tmp_path / "run"))  # fmt: skip
    assert r.returncode != 0 and "lenet5 takes 28x28 images" in r.stderr and not (tmp_path / "run").exists()
