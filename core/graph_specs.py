"""A graph's inputs and outputs as the manifest records them, and the reference pair the loader re-runs: shared
by training's export and `dlserve package` (core/packaging/), so both write what the service checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from core.checksums import file_sha256
from core.manifest import Reference

# onnxruntime's tensor types -> the manifest's dtypes (the NumPy names); the v2 protocol carries each of them.
DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}


def cpu_session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def tensor_specs(args: list[Any], kind: str) -> list[dict[str, Any]]:
    """Name, dtype and shape (-1 for a dynamic axis) of each of a session's inputs or outputs."""
    specs = []
    for a in args:
        if a.type not in DTYPES:
            known = ", ".join(DTYPES.values())
            raise ValueError(f"{kind} {a.name!r} is {a.type}; a served graph's tensors are one of {known}")
        specs.append(
            {"name": a.name, "dtype": DTYPES[a.type], "shape": [d if isinstance(d, int) else -1 for d in a.shape]}
        )
    return specs


def io_spec(session: ort.InferenceSession) -> dict[str, list[dict[str, Any]]]:
    """Names, dtypes and shapes (-1 for dynamic) of a graph's inputs and outputs, as the manifest records them."""
    return {
        "inputs": tensor_specs(session.get_inputs(), "input"),
        "outputs": tensor_specs(session.get_outputs(), "output"),
    }


def graph_entry(path: Path) -> dict[str, Any]:
    return {"file": path.name, "sha256": file_sha256(path), **io_spec(cpu_session(path))}


def reference_pair(
    session: ort.InferenceSession, graph: str, inputs: dict[str, np.ndarray], atol: float = 1e-4
) -> dict[str, Any]:
    """One input/output pair the server re-runs at load time to prove the artifact is intact."""
    outputs = session.run(None, inputs)
    names = [o.name for o in session.get_outputs()]
    return {
        "graph": graph,
        "inputs": {k: {"dtype": str(v.dtype), "data": v.tolist()} for k, v in inputs.items()},
        "outputs": {n: {"dtype": str(o.dtype), "data": o.tolist()} for n, o in zip(names, outputs, strict=True)},
        "atol": atol,
    }


def check_reference(session: ort.InferenceSession, reference: Reference) -> float:
    """Re-run a manifest's reference input: the largest difference from its recorded outputs, or ValueError
    naming the output that differs beyond the reference's atol."""
    feeds = {k: np.asarray(v.data, dtype=v.dtype) for k, v in reference.inputs.items()}
    outputs = session.run(list(reference.outputs), feeds)
    worst = 0.0
    for (name, expected), got in zip(reference.outputs.items(), outputs, strict=True):
        # float64 first: booleans cannot be subtracted, and unsigned integers would wrap around
        want = np.asarray(expected.data, dtype=expected.dtype).astype(np.float64)
        diff = float(np.max(np.abs(want - got.astype(np.float64)), initial=0.0))
        if not diff <= reference.atol:  # also catches NaN
            raise ValueError(f"reference output {name!r} differs by {diff:.3g} (> atol {reference.atol})")
        worst = max(worst, diff)
    return worst
