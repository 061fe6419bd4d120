"""The ONNX file being packaged: checked to be one and loaded by onnxruntime, its inputs and outputs read, run on
a deterministic input for the reference pair, and tested for whether requests may share a call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from core.checksums import file_sha256
from core.graph_specs import cpu_session, io_spec, reference_pair
from core.onnx_files import NotOnnx, check_model_file

SEED = 0
ROWS = 2  # rows of the reference input when the first axis is dynamic: enough to see rows interact
OTHER_AXES = 3  # the size of any other dynamic axis in a generated input


class PackageError(ValueError):
    """The model cannot be packaged as asked; the message names the problem and what would fix it."""


@dataclass(frozen=True)
class Graph:
    path: Path
    session: ort.InferenceSession
    inputs: list[dict[str, Any]]  # as the manifest records them: name, dtype, shape (-1: dynamic)
    outputs: list[dict[str, Any]]
    sha256: str

    def entry(self, file: str) -> dict[str, Any]:
        return {"file": file, "sha256": self.sha256, "inputs": self.inputs, "outputs": self.outputs}


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def open_graph(path: Path) -> Graph:
    if not path.is_file():
        raise PackageError(f"{path}: no such file")
    try:
        check_model_file(path)
    except NotOnnx as e:
        raise PackageError(f"{path} is not an ONNX file: {e}") from None
    except ValueError as e:
        raise PackageError(f"{path}: {e}") from None
    try:
        session = cpu_session(path)
    except Exception as e:  # onnxruntime raises a different class per cause, all plain Exceptions
        raise PackageError(f"onnxruntime cannot load {path}: {first_line(e)}") from None
    try:
        spec = io_spec(session)
    except ValueError as e:
        raise PackageError(f"{path}: {e}") from None
    return Graph(path, session, spec["inputs"], spec["outputs"], file_sha256(path))


def generated_inputs(specs: list[dict[str, Any]], session: ort.InferenceSession) -> dict[str, np.ndarray]:
    """A seeded input for every graph input: floats in quarter steps (exact in JSON and float16), integers 1
    (a valid token id, index or length in most graphs), random booleans. A dynamic first axis gets ROWS rows,
    other dynamic axes OTHER_AXES; axes sharing a symbolic name share their size."""
    rng = np.random.default_rng(SEED)
    sizes: dict[str, int] = {}
    feeds = {}
    for spec, arg in zip(specs, session.get_inputs(), strict=True):
        shape = []
        for axis, (size, symbol) in enumerate(zip(spec["shape"], arg.shape, strict=True)):
            if size == -1:
                default = ROWS if axis == 0 else OTHER_AXES
                size = sizes.setdefault(symbol, default) if isinstance(symbol, str) else default
            shape.append(size)
        dtype = np.dtype(spec["dtype"])
        if dtype.kind == "f":
            x = (rng.integers(-8, 9, shape) / 4).astype(dtype)
        elif dtype.kind == "b":
            x = rng.integers(0, 2, shape).astype(bool)
        else:
            x = np.ones(shape, dtype)
        feeds[spec["name"]] = x
    return feeds


def run(graph: Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    try:
        return graph.session.run(None, feeds)
    except Exception as e:
        shapes = {k: list(v.shape) for k, v in feeds.items()}
        raise PackageError(f"{graph.path.name} fails on the input {shapes}: {first_line(e)}") from None


def reference(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """The reference pair, its tolerance scaled to the outputs' size (1e-4 of the largest, at least 1e-4)."""
    outputs = run(graph, feeds)
    for spec, out in zip(graph.outputs, outputs, strict=True):
        if out.dtype.kind == "f" and not np.isfinite(out).all():
            shapes = {k: list(v.shape) for k, v in feeds.items()}
            raise PackageError(f"output {spec['name']!r} is not finite (NaN or infinite) on the input {shapes}")
    peak = max((float(np.max(np.abs(o.astype(np.float64)), initial=0.0)) for o in outputs), default=0.0)
    return reference_pair(graph.session, "model", feeds, atol=1e-4 * max(1.0, peak))


def row_difference(graph: Graph, feeds: dict[str, np.ndarray], atol: float) -> str | None:
    """Why the graph's rows cannot be split between requests (None: they can): every output must have the
    inputs' rows, and each row must come out the same whether it runs alone or with the others."""
    together = run(graph, feeds)
    rows = len(next(iter(feeds.values())))
    for spec, out in zip(graph.outputs, together, strict=True):
        if out.ndim == 0 or len(out) != rows:
            return f"output {spec['name']!r} has shape {list(out.shape)} for {rows} rows in"
    for i in range(rows):
        alone = run(graph, {k: v[i : i + 1] for k, v in feeds.items()})
        for spec, a, t in zip(graph.outputs, alone, together, strict=True):
            diff = float(np.max(np.abs(a.astype(np.float64) - t[i : i + 1].astype(np.float64)), initial=0.0))
            if not diff <= atol:
                return f"row {i} of output {spec['name']!r} changes by {diff:.3g} when other rows run with it"
    return None
