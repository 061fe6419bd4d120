"""`dlserve export <model> --quantize int8`: an int8 copy of an exported model folder, written as a new version
whose manifest records its quality and speed measured beside the float version it came from.

Two kinds, both onnxruntime's (onnxruntime.quantization):
- static, for a graph whose inputs the task can sample from its training data (`Task.calibration`: the image
  classifiers): weights int8 per channel, activations uint8 with ranges measured on that sample, in the QDQ
  format, so convolutions run on integer kernels too;
- dynamic otherwise (the recurrent models): weights int8, activations quantized per tensor at run time, no
  calibration needed. It applies to MatMul and LSTM; the exporter writes nn.Linear on 2-D inputs as Gemm, which
  the quantizer leaves alone, so each Gemm with a constant weight becomes the equivalent MatMul + Add first.

The new version is served by default only when it keeps the task's quality within its tolerance, reaches its
speed-up goal (`Goal`, a task class attribute) and is static: a dynamic copy's results depend on what a request
is batched with. Otherwise its manifest says `opt_in` and the service keeps serving the float version until a
load names the int8 one (core/model_folders.py `served_versions`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from pydantic import ValidationError

from core.graph_specs import cpu_session, graph_entry, reference_pair
from core.manifest import Manifest
from core.model_folders import next_version, version_folders
from training.export import code_commit, write_manifest

if TYPE_CHECKING:
    from training.tasks.base import Task

OP_TYPES = ("MatMul", "LSTM")
METHODS = {
    "dynamic": "onnxruntime dynamic quantization: int8 weights (7-bit range) per tensor, uint8 activations "
    "quantized at run time",
    "static": "onnxruntime static quantization (QDQ): int8 weights (7-bit range) per channel, uint8 activations "
    "calibrated (MinMax)",
}
FLOAT_CHECKS = ("parity", "evaluation")  # what the float manifest says of its graphs against PyTorch, its examples
FLOAT_OUTPUTS = ("*.hyp.txt", "examples.png")  # the float version's test translations and example grid
# 7-bit weights: without VNNI (AVX2) onnxruntime's uint8 x int8 kernel (VPMADDUBSW) sums pairs of products in int16,
# which full-range weights can saturate; with 7 bits every CPU computes the same integers as the one that measured.
REDUCE_RANGE = True
# The reference pair of an int8 graph is checked more loosely than a float one's; a wrong file misses it by far more.
REFERENCE_ATOL = 0.05


@dataclass(frozen=True)
class Goal:
    """What an int8 version must keep to be served by default: `score` (a key of the task's test_scores) may
    get worse by at most `tolerance`, and the task's workload must run at least `speedup` times as fast.
    `metrics` maps test_scores keys to the manifest's metric names, for the int8 manifest's own figures."""

    score: str = ""
    tolerance: float = 0.0
    higher_is_better: bool = True
    speedup: float = 1.0
    metrics: dict[str, str] = field(default_factory=dict)

    def kept(self, float_score: float, int8_score: float) -> bool:
        loss = float_score - int8_score if self.higher_is_better else int8_score - float_score
        return loss <= self.tolerance


@dataclass(frozen=True)
class Workload:
    """A unit of work to time on a model folder: `run()` does it once and returns how many `unit`s it did."""

    unit: str
    run: Callable[[], int]


def reference_workload(folder: Path, manifest: dict[str, Any], batch: int = 32) -> Workload:
    """The default workload: the reference pair's graph on its input repeated `batch` times along axis 0."""
    ref = manifest["reference"]
    session = cpu_session(folder / manifest["graphs"][ref["graph"]]["file"])
    feeds = {k: np.repeat(np.asarray(v["data"], dtype=v["dtype"]), batch, axis=0) for k, v in ref["inputs"].items()}
    return Workload(f"items/s (the reference input, batches of {batch})", lambda: (session.run(None, feeds), batch)[1])


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite each Gemm whose weight is an initializer (alpha = beta = 1, A not transposed) as MatMul + Add, in
    place; returns how many were rewritten."""
    inits = {t.name: t for t in model.graph.initializer}
    nodes, rewritten = [], 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (
            node.op_type != "Gemm" or node.input[1] not in inits or attrs.get("transA", 0)
            or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0
        ):  # fmt: skip
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        weight = weight.T if attrs.get("transB", 0) else weight
        name = f"{node.input[1]}__matmul"
        if name not in inits:  # a weight two Gemms share is transposed once
            inits[name] = numpy_helper.from_array(np.ascontiguousarray(weight), name)
            model.graph.initializer.append(inits[name])
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}__product" if has_bias else node.output[0]
        label = node.name or node.output[0]  # node names are optional, but must be unique where given
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=f"{label}__matmul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{label}__add"))
        rewritten += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for node in model.graph.node for name in node.input}
    kept = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return rewritten


class _Batches(CalibrationDataReader):
    """Calibration inputs (name -> (N, ...)) in batches of 32, as quantize_static reads them."""

    def __init__(self, feeds: dict[str, np.ndarray], batch: int = 32) -> None:
        n = len(next(iter(feeds.values())))
        self.batches = iter([{k: v[i : i + batch] for k, v in feeds.items()} for i in range(0, n, batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def quantize_graph(
    src: Path, dst: Path, op_types: tuple[str, ...] = OP_TYPES, calibration: dict[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """Write the int8 version of graph `src` to `dst`: static (QDQ) when `calibration` holds inputs of this
    graph, dynamic otherwise. Returns what was quantized and the file sizes."""
    inputs = {i.name for i in onnx.load(str(src)).graph.input}
    if calibration is not None and inputs <= set(calibration):
        return quantize_static_graph(src, dst, {k: calibration[k] for k in inputs})
    model = onnx.load(str(src))
    gemms = gemm_to_matmul(model)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / src.name
        onnx.save(model, str(staged))
        with _quiet():
            quantize_dynamic(str(staged), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=list(op_types),
                             reduce_range=REDUCE_RANGE)  # fmt: skip
    kinds = ("MatMulInteger", "DynamicQuantizeLSTM")
    return {"method": "dynamic", "op_types": list(op_types), "gemm_rewritten": gemms, **_record(src, dst, kinds)}


def quantize_static_graph(src: Path, dst: Path, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """Static int8 in the QDQ format: weights int8 per output channel, activations uint8 with the ranges seen on
    `feeds` (MinMax); onnxruntime fuses each QuantizeLinear/DequantizeLinear pair into integer kernels at load."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / src.name
        with _quiet():
            quant_pre_process(str(src), str(staged))  # shape inference and folding, as quantize_static wants
            quantize_static(
                str(staged), str(dst), _Batches(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=REDUCE_RANGE,
            )  # fmt: skip
    n = len(next(iter(feeds.values())))
    return {"method": f"static, calibrated on {n} training inputs", **_record(src, dst, ("QuantizeLinear",))}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The quantizers log advice on the root logger: to pre-process a graph for dynamic quantization (whose
    optimiser would fold MatMul + Add back into Gemm) and, for per-channel weights, that a 1-D tensor has no
    channel axis (it is quantized per tensor)."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _record(src: Path, dst: Path, kinds: tuple[str, ...]) -> dict[str, Any]:
    ops = Counter(n.op_type for n in onnx.load(str(dst)).graph.node)
    integer = {op: n for op, n in sorted(ops.items()) if op in kinds}
    return {"integer_ops": integer, "bytes": [src.stat().st_size, dst.stat().st_size]}


def items_per_second(workloads: dict[str, Workload], rounds: int = 5, min_seconds: float = 1.0) -> dict[str, float]:
    """Median throughput of each workload over interleaved rounds (each round starts with the next one)."""
    names, rates = list(workloads), {name: [] for name in workloads}
    for name in names:  # warm-up: first runs allocate
        workloads[name].run()
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            done, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < min_seconds:
                done += workloads[name].run()
            rates[name].append(done / elapsed)
    return {name: round(float(np.median(rates[name])), 2) for name in names}


def source_folder(task: Task) -> Path:
    """--from-version, or the newest version of the model that is not itself quantized."""
    folder = task.out_dir.parent  # models/<name>, or the folder of --out
    if task.args.from_version is not None:
        src = folder / str(task.args.from_version)
        if not (src / "manifest.json").is_file():
            raise SystemExit(f"error: {src} has no manifest.json: export the float model first")
        return src
    for src in version_folders(folder) if folder.is_dir() else []:
        if (src / "manifest.json").is_file() and "quantization" not in json.loads((src / "manifest.json").read_text()):
            return src
    raise SystemExit(f"error: no exported float version of {task.name} in {folder}: run `dlserve export {task.name}`")


def export_quantized(task: Task) -> dict[str, Any]:
    """Quantize the float version into a new version folder; written whole or not at all."""
    src = source_folder(task)
    manifest = json.loads((src / "manifest.json").read_text())
    if "quantization" in manifest:
        raise SystemExit(f"error: {src} is already quantized; name a float version with --from-version")
    out = task.args.out or src.parent / str(next_version(src.parent))
    if out.exists():
        raise SystemExit(f"error: {out} exists; choose another --out or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        new = quantized_manifest(task, src, staging, manifest, int(out.name) if out.name.isdigit() else 1)
        write_manifest(staging, new)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"wrote {out}: {json.dumps(new['quantization']['summary'])}")
    return new


def quantized_manifest(task: Task, src: Path, out: Path, manifest: dict[str, Any], version: int) -> dict[str, Any]:
    graph_files = {g["file"] for g in manifest["graphs"].values()}
    for f in src.iterdir():  # tokenizers, vocabularies, curves; not what the float model decoded or drew
        if f.is_file() and f.name not in graph_files | {"manifest.json"} and not any(map(f.match, FLOAT_OUTPUTS)):
            shutil.copy2(f, out / f.name)
    calibration = task.calibration(manifest)
    graphs = {
        key: quantize_graph(src / g["file"], out / g["file"], calibration=calibration)
        for key, g in manifest["graphs"].items()
    }
    ref = manifest["reference"]
    feeds = {k: np.asarray(v["data"], dtype=v["dtype"]) for k, v in ref["inputs"].items()}
    new = {
        **{k: v for k, v in manifest.items() if k not in FLOAT_CHECKS},
        "version": version,
        "graphs": {key: graph_entry(out / g["file"]) for key, g in manifest["graphs"].items()},
        "reference": reference_pair(
            cpu_session(out / manifest["graphs"][ref["graph"]]["file"]), ref["graph"], feeds, REFERENCE_ATOL
        ),  # fmt: skip
        "code_commit": code_commit(),
    }
    goal = task.quantized_goal
    scores = {"float": task.test_scores(src, manifest), "int8": task.test_scores(out, new)}
    workloads = {"float": task.workload(src, manifest), "int8": task.workload(out, new)}
    speed = items_per_second(workloads)
    ratio = round(speed["int8"] / speed["float"], 3)
    # A task that names no score to hold gets an opt-in copy: nothing says what it may lose.
    kept = bool(goal.score) and goal.kept(scores["float"][goal.score], scores["int8"][goal.score])
    # Dynamic int8 computes activation scales per call over the whole batch, so a request's result would depend
    # on what the server batched it with: such a copy is opt-in, however well it scores.
    batch_invariant = all(g["method"] != "dynamic" for g in graphs.values())
    served = kept and ratio >= goal.speedup and batch_invariant
    new["metrics"] = {
        **{name: scores["int8"][key] for key, name in goal.metrics.items() if key in scores["int8"]},
        **({"parameters": manifest["metrics"]["parameters"]} if "parameters" in manifest.get("metrics", {}) else {}),
    }
    new["opt_in"] = not served
    summary = {
        goal.score or "score": {"float": scores["float"].get(goal.score), "int8": scores["int8"].get(goal.score),
                                "allowed_loss": goal.tolerance, "kept": kept},
        "speed": {"unit": workloads["float"].unit, **speed, "ratio": ratio, "goal": goal.speedup},
        "batch_invariant": batch_invariant,
        "served_by_default": served,
    }  # fmt: skip
    new["quantization"] = {
        "method": METHODS["static" if any(g["method"] != "dynamic" for g in graphs.values()) else "dynamic"],
        "from_version": int(src.name) if src.name.isdigit() else None,
        "graphs": graphs,
        "summary": summary,
        "scores": {k: {n: v for n, v in s.items() if isinstance(v, int | float)} for k, s in scores.items()},
    }
    try:
        Manifest.model_validate(new)
    except ValidationError as e:
        raise ValueError(f"{task.name}: the quantized manifest does not match core/manifest.py: {e}") from None
    return new
