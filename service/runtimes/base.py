"""What every model runtime shares: its manifest, its onnxruntime sessions, and the load-time self-check."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.manifest import Manifest
from service.runtimes.sessions import create_session, primary_provider


class ArtifactError(RuntimeError):
    """A model folder's files do not match its manifest."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ModelRuntime:
    """Loads every graph of a model folder, verifies checksums and the reference pair."""

    task: str = ""

    def __init__(self, manifest: Manifest, folder: Path, policy: str, intra_op_threads: int = 0) -> None:
        self.manifest, self.folder = manifest, folder
        self.sessions: dict[str, ort.InferenceSession] = {}
        for key, graph in manifest.graphs.items():
            path = folder / graph.file
            if not path.is_file():
                raise ArtifactError(f"graph {key!r}: file {graph.file} is missing")
            digest = file_sha256(path)
            if digest != graph.sha256:
                raise ArtifactError(f"graph {key!r}: {graph.file} has sha256 {digest}, manifest says {graph.sha256}")
            self.sessions[key] = create_session(path, policy, intra_op_threads)
        self.check_reference()

    @property
    def provider(self) -> str:
        return primary_provider(next(iter(self.sessions.values())))

    def warm_up(self) -> None:
        """Run representative shapes once so the first real request does not pay for allocations."""

    def check_reference(self) -> float:
        """Re-run the manifest's reference input; raise ArtifactError when any output differs beyond atol."""
        ref = self.manifest.reference
        if ref.graph not in self.sessions:
            raise ArtifactError(f"reference names graph {ref.graph!r}, which the manifest does not declare")
        session = self.sessions[ref.graph]
        feeds = {k: np.asarray(v.data, dtype=v.dtype) for k, v in ref.inputs.items()}
        outputs = session.run(list(ref.outputs), feeds)
        worst = 0.0
        for (name, expected), got in zip(ref.outputs.items(), outputs, strict=True):
            diff = float(np.max(np.abs(np.asarray(expected.data, dtype=expected.dtype) - got)))
            if not diff <= ref.atol:  # also catches NaN
                raise ArtifactError(f"reference output {name!r} differs by {diff:.3g} (> atol {ref.atol})")
            worst = max(worst, diff)
        return worst
