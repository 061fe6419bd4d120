"""`dlserve package classify|tensor`: what it prints, that it runs without torch, and every kind of bad input:
a message naming the problem on stderr, exit status 2, and the model directory exactly as it was."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from onnx_models import fixed_batch, image_classifier, two_inputs, unloadable
from tests_support import REPO, png

from service import cli

# The service install (`make serve`) has neither torch nor onnx: the command must not need them.
SERVICE_ONLY = "import sys; sys.modules['torch'] = sys.modules['onnx'] = None; from service.cli import main; main()"


def tree(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Source files beside a model directory that already holds `taken` version 1."""
    root = tmp_path_factory.mktemp("package")
    image_classifier(root / "cnn.onnx")  # (N, 3, 32, 32) -> 5 classes
    image_classifier(root / "digits.onnx", channels=1, size=28)
    unloadable(root / "broken.onnx")
    two_inputs(root / "two.onnx")
    fixed_batch(root / "fixed.onnx")
    (root / "photo.onnx").write_bytes(png(np.zeros((8, 8, 3), np.uint8)))
    (root / "five.txt").write_text("a\nb\nc\nd\ne\n")
    (root / "three.txt").write_text("a\nb\nc\n")
    (root / "models").mkdir()
    assert package(root, "tensor", "two.onnx", "--name", "taken") == 0
    return root


def package(root, kind: str, model: str, *args: str) -> int:
    argv = ["package", kind, str(root / model), *args]
    if "--model-dir" not in args:
        argv += ["--model-dir", str(root / "models")]
    try:
        cli.main(argv)
    except SystemExit as e:
        return e.code
    return 0


def test_a_classifier_and_a_tensor_model_are_written_and_described(work, capsys):
    labels = str(work / "five.txt")
    recipe = ["--resize", "40x36", "--crop", "32", "--channels", "bgr", "--mean", "0.5,0.5,0.5", "--std", "0.25",
              "--scale", "0.0039"]  # fmt: skip
    assert package(work, "classify", "cnn.onnx", "--name", "cnn", "--labels", labels, *recipe) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"wrote {work / 'models' / 'cnn' / '1'}",
                   "batching: dynamic: images of concurrent requests share a call, up to 64 per call"]  # fmt: skip
    assert package(work, "tensor", "fixed.onnx", "--name", "fixed", "--version", "3") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {work / 'models' / 'fixed' / '3'}",
        "batching: none: the graph takes a fixed batch of 1, so each request runs on its own",
    ]


CASES = {
    "not-onnx": (["classify", "photo.onnx", "--name", "x", "--labels", "five.txt"], r"photo.onnx is not an ONNX file"),
    "not-onnx-tensor": (["tensor", "five.txt", "--name", "x"], r"five.txt is not an ONNX file"),
    "no-file": (["tensor", "missing.onnx", "--name", "x"], r"missing.onnx: no such file"),
    "unloadable": (["tensor", "broken.onnx", "--name", "x"],
                   r"onnxruntime cannot load \S+broken.onnx: .*NoSuchOperator"),
    "labels": (["classify", "cnn.onnx", "--name", "x", "--labels", "three.txt"],
               r"there are 3 labels but output 'logits' scores 5 classes \(shape \[-1, 5\]\)"),
    "no-labels-file": (["classify", "cnn.onnx", "--name", "x", "--labels", "none.txt"],
                       r"labels file \S+none.txt: no such file"),
    "channels": (["classify", "digits.onnx", "--name", "x", "--labels", "five.txt"],
                 r"the recipe gives 3 channel\(s\) \(rgb\) .* takes \[-1, 1, 28, 28\]: .* use --channels gray"),
    "crop": (["classify", "cnn.onnx", "--name", "x", "--labels", "five.txt", "--resize-shorter", "36", "--crop", "40"],
             r"crop \[40, 40\] is larger than the resized image \[36, 36\]"),
    "layout": (["classify", "cnn.onnx", "--name", "x", "--labels", "five.txt", "--layout", "nhwc"],
               r"takes \[-1, 3, 32, 32\]: the graph takes NCHW \(channels first, \(C, H, W\)\): use --layout nchw"),
    "size": (["classify", "cnn.onnx", "--name", "x", "--labels", "five.txt", "--resize", "30x30"],
             r"images of width x height 32 x 32, but the recipe gives 30 x 30"),
    "exists": (["classify", "cnn.onnx", "--name", "taken", "--labels", "five.txt", "--version", "1"],
               r"taken/1 already exists: a version is never overwritten; leave --version out to write version 2"),
    "exists-tensor": (["tensor", "two.onnx", "--name", "taken", "--version", "1"], r"taken/1 already exists"),
    "name": (["tensor", "two.onnx", "--name", "Bad_Name"], r"invalid model name 'Bad_Name': use lower-case letters"),
    "resize-flag": (["classify", "cnn.onnx", "--name", "x", "--labels", "five.txt", "--resize", "32"],
                    r"argument --resize: '32' is not WxH"),
    "crop-flag": (["classify", "cnn.onnx", "--name", "x", "--labels", "five.txt", "--crop", "0"],
                  r"argument --crop: '0' is not a whole number >= 1"),
    "scale": (["classify", "cnn.onnx", "--name", "x", "--labels", "five.txt", "--scale", "0"],
              r"the preprocessing recipe is invalid: scale: Input should be greater than 0"),
    "mean": (["classify", "cnn.onnx", "--name", "x", "--labels", "five.txt", "--mean", "0.5,0.5"],
             r"the preprocessing recipe is invalid: mean has 2 values; rgb images have 3 channels"),
    "both-resizes": (["classify", "cnn.onnx", "--name", "x", "--labels", "five.txt", "--resize", "8x8",
                      "--resize-shorter", "8"], r"argument --resize-shorter: not allowed with argument --resize"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_naming_the_problem_and_writes_nothing(work, capsys, case):
    (kind, model, *args), message = CASES[case]
    args = [str(work / a) if a.endswith(".txt") else a for a in args]
    before = tree(work)
    assert package(work, kind, model, *args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert tree(work) == before


def test_it_runs_without_torch_or_onnx_with_the_real_exit_status(work):
    models = work / "no-torch"
    cmd = [sys.executable, "-c", SERVICE_ONLY, "package", "tensor", str(work / "two.onnx"), "--name", "two",
           "--model-dir", str(models)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("batching: dynamic on the first axis: requests share a call, up to 64 rows\n")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)  # version 2: fine again
    assert done.returncode == 0 and tree(models) == sorted(
        ["two", "two/1", "two/1/manifest.json", "two/1/model.onnx", "two/2", "two/2/manifest.json", "two/2/model.onnx"]
    )
    done = subprocess.run([*cmd, "--version", "2"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2 and "dlserve package tensor: " in done.stderr and "two/2 already exists" in done.stderr


def test_help_names_both_kinds_and_every_flag(capsys):
    with pytest.raises(SystemExit):
        cli.main(["package", "--help"])
    assert "classify" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["package", "classify", "--help"])
    text = capsys.readouterr().out
    for flag in ("--name", "--labels", "--resize-shorter", "--resize", "--crop", "--scale", "--mean", "--std",
                 "--channels", "--layout", "--version", "--model-dir"):  # fmt: skip
        assert flag in text
