"""Packaging in process: what a packaged classifier's and tensor model's manifests hold (checked with the
loader's own schema and reference check), the batching decision, the next version, and that a failure while
writing leaves the model directory as it was. The command line and its bad input: tests/service."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, save
from onnx_models import fixed_batch, image_classifier, rows_interact, two_inputs

from core.checksums import file_sha256
from core.graph_specs import check_reference, cpu_session
from core.manifest import ImageRecipe
from core.model_folders import read_manifest
from core.packaging import PackageError, folders, package_classifier, package_tensor

LABELS = ["apple", "bee", "cat", "dog", "eel"]
RECIPE = {"channels": "bgr", "layout": "nhwc", "resize_shorter": 40, "crop": (32, 32),
          "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}  # fmt: skip


def tree(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def labels(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(LABELS) + "\n\n")  # trailing blank lines are not labels
    return path


def test_a_classifier_gets_its_recipe_labels_reference_and_batching(tmp_path, labels):
    source = image_classifier(tmp_path / "cnn.onnx", layout="nhwc")
    packaged = package_classifier(source, "cnn", labels, RECIPE, tmp_path / "models")
    folder = tmp_path / "models" / "cnn" / "1"
    assert packaged.folder == folder
    assert tree(tmp_path / "models") == ["cnn", "cnn/1", "cnn/1/manifest.json", "cnn/1/model.onnx"]
    manifest = read_manifest(folder)  # the schema the server loads it with
    assert manifest.task == "classify" and manifest.labels == LABELS and manifest.version == 1
    assert manifest.preprocessing == ImageRecipe(kind="image", **RECIPE)
    assert manifest.batching.max_batch_size == 64 and packaged.batching.startswith("dynamic")
    assert (folder / "model.onnx").read_bytes() == source.read_bytes()
    assert manifest.graphs["model"].sha256 == file_sha256(source)
    assert manifest.graphs["model"].inputs[0].shape == [-1, 32, 32, 3]
    assert np.asarray(manifest.reference.inputs["pixels"].data).shape == (2, 32, 32, 3)
    assert check_reference(cpu_session(folder / "model.onnx"), manifest.reference) <= manifest.reference.atol
    raw = json.loads((folder / "manifest.json").read_text())
    assert raw["packaged"]["source"] == "cnn.onnx" and raw["packaged"]["by"] == "dlserve package classify"


def test_the_reference_input_is_the_same_every_time(tmp_path, labels):
    source = image_classifier(tmp_path / "cnn.onnx")
    first = package_classifier(source, "cnn", labels, {}, tmp_path / "models")
    again = package_classifier(source, "cnn", labels, {}, tmp_path / "models")
    assert (first.folder.name, again.folder.name) == ("1", "2")
    assert first.manifest["reference"] == again.manifest["reference"]


def test_without_a_resize_the_graph_size_is_used_and_versions_count_up(tmp_path, labels):
    source = image_classifier(tmp_path / "digits.onnx", channels=1, size=28)
    models = tmp_path / "models"
    one = package_classifier(source, "digits", labels, {"channels": "gray", "mean": [0.13], "std": [0.31]}, models)
    assert one.manifest["preprocessing"]["resize"] == [28, 28] and one.manifest["preprocessing"]["channels"] == "gray"
    assert package_classifier(source, "digits", labels, {"channels": "gray"}, models, version=5).folder.name == "5"
    assert package_classifier(source, "digits", labels, {"channels": "gray"}, models).folder.name == "6"


def test_a_graph_with_a_batch_of_one_runs_one_image_per_call(tmp_path, labels):
    packaged = package_classifier(image_classifier(tmp_path / "one.onnx", batch=1), "one", labels, {}, tmp_path / "m")
    assert packaged.manifest["batching"]["max_batch_size"] == 1
    assert packaged.batching == "none: the graph takes a fixed batch of 1, so each image runs on its own"
    assert np.asarray(packaged.manifest["reference"]["inputs"]["pixels"]["data"]).shape == (1, 3, 32, 32)


def test_a_classifier_whose_images_affect_each_other_is_refused(tmp_path):
    (tmp_path / "three.txt").write_text("r\ng\nb\n")
    with pytest.raises(PackageError, match=r"does not score each image on its own \(row 0 of output 'scores' changes"):
        package_classifier(rows_interact(tmp_path / "bn.onnx"), "bn", tmp_path / "three.txt", {}, tmp_path / "models")
    assert tree(tmp_path / "models") == []


@pytest.mark.parametrize(
    ("build", "max_batch_size", "words"),
    [
        (two_inputs, 64, "dynamic on the first axis: requests share a call, up to 64 rows"),
        (fixed_batch, 1, "none: the graph takes a fixed batch of 1, so each request runs on its own"),
        (rows_interact, 1, "none: row 0 of output 'scores' changes by "),
    ],
)
def test_a_tensor_model_is_batched_only_when_its_rows_are_independent(tmp_path, build, max_batch_size, words):
    packaged = package_tensor(build(tmp_path / "g.onnx"), "g", tmp_path / "models")
    manifest = read_manifest(packaged.folder)
    assert manifest.task == "tensor" and manifest.preprocessing is None and manifest.labels is None
    assert manifest.batching.max_batch_size == max_batch_size and packaged.batching.startswith(words)
    assert check_reference(cpu_session(packaged.folder / "model.onnx"), manifest.reference) == 0.0


def test_a_given_reference_input_is_the_one_recorded(tmp_path):
    x, k = np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 5, 2])
    packaged = package_tensor(two_inputs(tmp_path / "two.onnx"), "two", tmp_path / "models", inputs={"x": x, "k": k})
    ref = packaged.manifest["reference"]
    assert ref["inputs"]["x"]["data"] == x.tolist() and ref["inputs"]["k"] == {"dtype": "int64", "data": [1, 5, 2]}
    assert ref["outputs"]["total"]["data"] == [6.0, 22.0, 38.0]
    assert ref["atol"] == pytest.approx(1e-4 * 38)  # 1e-4 of the largest output, total[2]


def test_an_output_that_is_not_finite_is_refused(tmp_path):
    info = helper.make_tensor_value_info
    model = helper.make_model(
        helper.make_graph([helper.make_node("Log", ["x"], ["y"])], "log", [info("x", TensorProto.FLOAT, ["N", 8])],
                          [info("y", TensorProto.FLOAT, ["N", 8])]),
        opset_imports=[helper.make_opsetid("", 17)],
    )  # fmt: skip
    model.ir_version = 8
    save(model, str(tmp_path / "log.onnx"))
    with pytest.raises(
        PackageError, match=r"output 'y' is not finite \(NaN or infinite\) on the input \{'x': \[2, 8\]\}"
    ):
        package_tensor(tmp_path / "log.onnx", "log", tmp_path / "models")


@pytest.mark.parametrize("interrupt", [PackageError("the copy is broken"), KeyboardInterrupt()])
def test_a_failure_while_writing_leaves_the_model_directory_as_it_was(tmp_path, monkeypatch, interrupt):
    models = tmp_path / "models"
    package_tensor(two_inputs(tmp_path / "two.onnx"), "two", models)
    before = tree(models)

    def fail(folder):
        assert folder.parent == models and folder.name.startswith(".package-")  # staged inside the model dir
        assert (folder / "model.onnx").is_file() and (folder / "manifest.json").is_file()
        raise interrupt

    monkeypatch.setattr(folders, "verify", fail)
    for name in ("two", "new"):
        with pytest.raises(type(interrupt)):
            package_tensor(tmp_path / "two.onnx", name, models)
    assert tree(models) == before
