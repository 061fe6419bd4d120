"""onnxruntime sessions with the execution provider policy, reporting the provider really obtained."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger("dlserve")

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


class ProviderUnavailable(RuntimeError):
    """`providers=cuda` was demanded but onnxruntime could not give CUDA."""


def requested_providers(policy: str) -> list[str]:
    if policy == "cpu":
        return [CPU]
    # auto and cuda both ask for CUDA first; whether it was obtained is read back from the session.
    return [CUDA, CPU] if CUDA in ort.get_available_providers() or policy == "cuda" else [CPU]


def create_session(path: Path, policy: str, intra_op_threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    wanted = requested_providers(policy)
    session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
    # get_providers() is what the session really runs on; onnxruntime-gpu silently falls back to CPU.
    obtained = session.get_providers()
    if policy == "cuda" and CUDA not in obtained:
        raise ProviderUnavailable(f"DLSERVE_PROVIDERS=cuda but onnxruntime gave {obtained} for {path.name}")
    if CUDA in wanted and CUDA not in obtained:
        log.warning("CUDA was requested for %s but onnxruntime fell back to %s", path, obtained)
    return session


def primary_provider(session: ort.InferenceSession) -> str:
    return session.get_providers()[0]
