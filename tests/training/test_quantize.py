"""export --quantize int8: Gemm rewritten exactly, int8 graphs that stay close to float, the goal that decides
which version serves, and refusals that leave nothing behind. The tasks' own int8 exports are tested with each
task (tests/training/tasks/)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from tests_support import MODELS

from core.graph_specs import cpu_session
from core.model_folders import read_manifest
from training import quantize
from training.cli import run
from training.export import export_onnx


def gemm_model(w: np.ndarray, bias: np.ndarray) -> onnx.ModelProto:
    """y = x @ w.T + bias (transB), z = y @ w2 (no bias), and a Gemm whose B is an input, which stays."""
    w2 = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1),
        helper.make_node("Gemm", ["y", "w2"], ["z"]),
        helper.make_node("Gemm", ["x", "free"], ["u"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 5]),
         helper.make_tensor_value_info("free", TensorProto.FLOAT, [5, 2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 3]),
         helper.make_tensor_value_info("u", TensorProto.FLOAT, ["n", 2])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "b"), numpy_helper.from_array(w2, "w2")],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_gemm_with_a_constant_weight_becomes_the_same_matmul_and_add(tmp_path):
    rng = np.random.default_rng(0)
    model = gemm_model(rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal(4).astype(np.float32))
    x, free = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)
    feeds = {"x": x, "free": free}
    onnx.save(model, tmp_path / "before.onnx")
    assert quantize.gemm_to_matmul(model) == 2
    onnx.checker.check_model(model)
    onnx.save(model, tmp_path / "after.onnx")
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Add", "MatMul", "Gemm"]
    assert {t.name for t in model.graph.initializer} == {"w__matmul", "b", "w2__matmul"}
    before, after = (cpu_session(tmp_path / f).run(None, feeds) for f in ("before.onnx", "after.onnx"))
    for a, b in zip(before, after, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_int8_graph_uses_integer_kernels_and_stays_close_to_float(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    export_onnx(net, (torch.zeros(2, 64),), tmp_path / "f.onnx", ["x"], ["y"], {"x": {0: "n"}, "y": {0: "n"}})
    record = quantize.quantize_graph(tmp_path / "f.onnx", tmp_path / "q.onnx", calibration={"other": np.zeros(1)})
    assert record["method"] == "dynamic"  # the calibration sample is not this graph's input
    assert record["gemm_rewritten"] == 2 and record["integer_ops"] == {"MatMulInteger": 2}
    assert record["bytes"][1] < record["bytes"][0] / 2  # int8 weights: a quarter of the float ones, plus scales
    x = np.random.default_rng(1).standard_normal((16, 64)).astype(np.float32)
    (want,), (got,) = (cpu_session(tmp_path / f).run(None, {"x": x}) for f in ("f.onnx", "q.onnx"))
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9


def test_static_int8_of_a_cnn_is_calibrated_on_its_inputs_and_stays_close(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 10)
    ).eval()
    export_onnx(net, (torch.zeros(2, 1, 8, 8),), tmp_path / "f.onnx", ["image"], ["logits"],
                {"image": {0: "n"}, "logits": {0: "n"}})  # fmt: skip
    sample = np.random.default_rng(0).standard_normal((64, 1, 8, 8)).astype(np.float32)
    record = quantize.quantize_graph(tmp_path / "f.onnx", tmp_path / "q.onnx", calibration={"image": sample})
    assert (
        record["method"] == "static, calibrated on 64 training inputs" and record["integer_ops"]["QuantizeLinear"] >= 2
    )
    x = np.random.default_rng(1).standard_normal((16, 1, 8, 8)).astype(np.float32)
    (want,), (got,) = (cpu_session(tmp_path / f).run(None, {"image": x}) for f in ("f.onnx", "q.onnx"))
    assert np.abs(got - want).max() < 0.1 * np.abs(want).max()


def test_goal_allows_the_stated_loss_in_the_right_direction():
    bleu, loss = quantize.Goal("bleu", 0.5), quantize.Goal("loss", 0.02, higher_is_better=False)
    assert bleu.kept(40.0, 39.6) and not bleu.kept(40.0, 39.4) and bleu.kept(40.0, 41.0)
    assert loss.kept(1.40, 1.41) and not loss.kept(1.40, 1.43) and loss.kept(1.40, 1.30)


def test_timing_is_interleaved_and_counts_what_each_run_did():
    calls: list[str] = []

    def work(name: str, items: int) -> quantize.Workload:
        return quantize.Workload("items/s", lambda: (calls.append(name), items)[1])

    rates = quantize.items_per_second({"a": work("a", 1), "b": work("b", 3)}, rounds=2, min_seconds=0.01)
    assert set(rates) == {"a", "b"} and rates["b"] > rates["a"] > 0
    assert calls[:2] == ["a", "b"] and calls[-1] == "a"  # warm-up a, b; round 0 starts at a, round 1 at b


@pytest.fixture
def digits(tmp_path, monkeypatch):
    """The committed LeNet-5 as version 1 of a throwaway repository; export's timing kept short."""
    timing = quantize.items_per_second
    monkeypatch.setattr(quantize, "items_per_second", lambda w: timing(w, rounds=1, min_seconds=0.05))
    shutil.copytree(MODELS / "lenet5-mnist" / "1", tmp_path / "lenet5-mnist" / "1")
    return tmp_path / "lenet5-mnist"


def test_export_writes_a_new_version_scored_and_timed_beside_the_float_one(digits, data_dir):
    run("export", "lenet5-mnist", ["--quantize", "int8", "--out", str(digits / "2"), "--data-dir", str(data_dir),
                                   "--eval-limit", "200"])  # fmt: skip
    m, raw = read_manifest(digits / "2"), json.loads((digits / "2" / "manifest.json").read_text())
    summary = raw["quantization"]
    assert "parity" in json.loads((digits / "1" / "manifest.json").read_text()) and "parity" not in raw
    assert m.version == 2 and m.reference.atol == quantize.REFERENCE_ATOL and m.metrics["test_images"] == 200
    assert summary["scores"]["float"]["test_images"] == summary["scores"]["int8"]["test_images"] == 200
    s = summary["summary"]
    assert s["batch_invariant"] is True  # static: fixed activation scales, each row computed on its own
    assert s["served_by_default"] is (s["test_error_served"]["kept"] and s["speed"]["ratio"] >= 1.0)
    assert m.opt_in is not s["served_by_default"]
    assert s["speed"]["float"] > 0 and s["speed"]["ratio"] == round(s["speed"]["int8"] / s["speed"]["float"], 3)
    assert summary["graphs"]["model"]["method"] == "static, calibrated on 512 training inputs"  # LeNet's sample
    assert summary["method"].startswith("onnxruntime static quantization (QDQ)")


def test_refusals_leave_nothing_behind(digits, data_dir, capsys):
    args = ["--quantize", "int8", "--data-dir", str(data_dir), "--eval-limit", "50"]
    with pytest.raises(SystemExit, match="exists; choose another --out"):
        run("export", "lenet5-mnist", [*args, "--out", str(digits / "1")])
    with pytest.raises(SystemExit, match="has no manifest.json: export the float model first"):
        run("export", "lenet5-mnist", [*args, "--out", str(digits / "3"), "--from-version", "7"])
    run("export", "lenet5-mnist", [*args, "--out", str(digits / "2")])
    with pytest.raises(SystemExit, match="is already quantized; name a float version with --from-version"):
        run("export", "lenet5-mnist", [*args, "--out", str(digits / "3"), "--from-version", "2"])
    assert sorted(p.name for p in digits.iterdir()) == ["1", "2"]  # no staging folder either
    empty = digits.parent / "nothing-here" / "lenet5-mnist"
    empty.mkdir(parents=True)
    with pytest.raises(SystemExit, match="no exported float version of lenet5-mnist"):
        run("export", "lenet5-mnist", [*args, "--out", str(empty / "1")])


def test_a_task_that_names_no_score_to_hold_gets_an_opt_in_copy(digits, data_dir, monkeypatch):
    from training.tasks.lenet_mnist import LeNetMnist

    monkeypatch.setattr(LeNetMnist, "quantized_goal", quantize.Goal())
    run("export", "lenet5-mnist", ["--quantize", "int8", "--out", str(digits / "2"), "--data-dir", str(data_dir),
                                   "--eval-limit", "50"])  # fmt: skip
    manifest = json.loads((digits / "2" / "manifest.json").read_text())
    assert manifest["opt_in"] is True and manifest["quantization"]["summary"]["score"]["kept"] is False
