"""export --from-version: a version's weights read back from its graphs and exported again (here with LeNet-5's
test-time views), its training record carried over; what cannot be re-exported is refused before anything is
written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest

from training import cli
from training.data import mnist
from training.export import cpu_session
from training.models.lenet import LeNetConfig
from training.tasks.lenet_mnist import onnx_test_error, to_input


@pytest.fixture(scope="module")
def exported(tmp_path_factory, data_dir):
    """A short LeNet-5 run exported as version 1 (no test-time views) of a model folder."""
    tmp = tmp_path_factory.mktemp("reexport")
    run, folder = tmp / "run", tmp / "models" / "lenet5-mnist"
    common = ["--data-dir", str(data_dir), "--eval-limit", "200"]
    cli.run("train", "lenet5-mnist", ["--dry-run", "--holdout", "300", "--run-dir", str(run), "--no-progress",
                                      "--data-dir", str(data_dir)])  # fmt: skip
    cli.run("export", "lenet5-mnist", ["--checkpoint", str(run / "checkpoint.pt"), "--out", str(folder / "1"), *common])
    shutil.rmtree(run)  # what a committed version has: its folder, not its run
    return folder, common


def export(folder, common, *args: str) -> dict:
    cli.run("export", "lenet5-mnist", [*args, *common])
    return json.loads((folder / args[args.index("--out") + 1] / "manifest.json").read_text())


def test_a_version_re_exported_as_it_was_gives_the_same_logits_and_keeps_its_record(exported, data_dir):
    folder, common = exported
    manifest = export(folder, common, "--from-version", "1", "--out", str(folder / "2"))
    first = json.loads((folder / "1" / "manifest.json").read_text())
    assert manifest["training"] == {**first["training"], "reexported_from": "1"}
    assert manifest["metrics"] == first["metrics"]
    x = to_input(mnist.load_split(data_dir, "t10k").images[:64], LeNetConfig()).numpy()
    old, new = (cpu_session(folder / v / "model.onnx").run(None, {"image": x})[0] for v in ("1", "2"))
    np.testing.assert_array_equal(old, new)


def test_a_version_re_exported_with_test_time_views_is_measured_as_the_new_graph(exported, data_dir):
    folder, common = exported
    manifest = export(folder, common, "--from-version", "1", "--tta", "diagonal", "--out", str(folder / "3"))
    assert manifest["test_time_augmentation"].endswith("along each diagonal")
    m = manifest["metrics"]
    assert {"holdout_error", "holdout_error_without_tta", "test_error_without_tta"} <= set(m)
    te = mnist.load_split(data_dir, "t10k")
    first = mnist.MnistSplit(te.images[:200], te.labels[:200])
    assert round(onnx_test_error(folder / "3" / "model.onnx", first, LeNetConfig()), 6) == m["test_error"]
    # The plain network inside it is version 1's: its error is version 1's.
    assert (
        m["test_error_without_tta"] == json.loads((folder / "1" / "manifest.json").read_text())["metrics"]["test_error"]
    )


def test_what_cannot_be_re_exported_is_refused_with_a_message_and_writes_nothing(exported, capsys):
    folder, common = exported
    cases = [
        (["--from-version", "1", "--average-last", "2", "--out", str(folder / "9")], "--average-last reads"),
        (["--from-version", "1", "--out", str(folder / "1")], "--out is the version being re-exported"),
        (["--from-version", "7", "--out", str(folder / "9")], "has no manifest.json"),
    ]
    renamed = folder / "5"  # a version whose graph names its weights differently (as a fused or int8 export would)
    shutil.copytree(folder / "1", renamed)
    graph = onnx.load(str(renamed / "model.onnx"))
    for init in graph.graph.initializer:
        if init.name == "c3.weight":
            for node in graph.graph.node:
                node.input[:] = ["w_fused" if i == "c3.weight" else i for i in node.input]
            init.name = "w_fused"
    onnx.save(graph, str(renamed / "model.onnx"))
    cases.append((["--from-version", "5", "--out", str(folder / "9")], "same shape): c3.weight;"))
    for args, message in cases:
        with pytest.raises(SystemExit) as e:
            cli.run("export", "lenet5-mnist", [*args, *common])
        assert message in str(e.value)
        assert not (folder / "9").exists()
