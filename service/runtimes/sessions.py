"""onnxruntime sessions with the execution provider policy, reporting the provider really obtained."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger("dlserve")

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
# One Identity node on a float[1]: enough for onnxruntime to create (or fail to create) the CUDA provider.
PROBE_GRAPH = Path(__file__).with_name("provider_probe.onnx")


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


def startup_provider(policy: str) -> str:
    """Checked once when the server starts: the provider onnxruntime really gives under `policy`.

    `cuda` without CUDA raises ProviderUnavailable (the server refuses to start). `auto` with a GPU build of
    onnxruntime that cannot get CUDA (no GPU, no driver, a CUDA or cuDNN mismatch) logs a warning and serves on
    the CPU; a CPU build under `auto` is simply logged.
    """
    if policy == "cpu":
        log.info("execution provider: %s (DLSERVE_PROVIDERS=cpu)", CPU)
        return CPU
    available = ort.get_available_providers()
    obtained = [CPU]
    if CUDA in available:
        session = ort.InferenceSession(str(PROBE_GRAPH), providers=[CUDA, CPU])
        obtained = session.get_providers()
    detail = f"onnxruntime {ort.__version__} offers {available} and gave {obtained}"
    if CUDA in obtained:
        log.info("execution provider: %s (DLSERVE_PROVIDERS=%s; %s)", CUDA, policy, detail)
        return CUDA
    if policy == "cuda":
        raise ProviderUnavailable(f"DLSERVE_PROVIDERS=cuda but CUDA is unavailable: {detail}")
    if CUDA in available:
        log.warning(
            "CUDA is unavailable, serving on the CPU: %s. Set DLSERVE_PROVIDERS=cpu to choose the CPU, or "
            "DLSERVE_PROVIDERS=cuda to refuse to start without CUDA",
            detail,
        )
    else:
        log.info("execution provider: %s (DLSERVE_PROVIDERS=%s; %s)", CPU, policy, detail)
    return obtained[0]
