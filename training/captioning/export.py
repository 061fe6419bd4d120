"""The captioner's ONNX graphs (encoder.onnx, decoder_step.onnx; dynamic in batch and rows) and their checks:
numerical parity with PyTorch, and greedy captions identical in PyTorch and through the exported graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.captioning.onnx_captioner import OnnxCaptioner
from training.export import assert_parity, export_onnx
from training.models.captioner import CaptionDecoder, DecoderStepGraph, EncoderGraph, ImageEncoder

ENCODER_BATCHES = (1, 3, 8)
STEP_ROWS = (1, 5, 12)


def export_graphs(
    encoder: ImageEncoder, decoder: CaptionDecoder, banned: list[int], out: Path
) -> tuple[EncoderGraph, DecoderStepGraph]:
    """Write encoder.onnx and decoder_step.onnx (dynamic batch / rows) into `out`; return the torch graphs."""
    config = decoder.c
    enc_graph = EncoderGraph(encoder, decoder).eval()
    step_graph = DecoderStepGraph(decoder, banned).eval()
    s = config.image_size
    enc_outputs = ["regions", "keys", "state"]
    enc_axes = {k: {0: "batch"} for k in ["image", *enc_outputs]}
    export_onnx(enc_graph, (torch.zeros(2, 3, s, s),), out / "encoder.onnx", ["image"], enc_outputs, enc_axes)
    n_regions, d, a, h2 = (s // 16) ** 2, config.channels[-1], config.attn_dim, 2 * config.hidden
    example = (
        torch.zeros(2, dtype=torch.long),
        torch.zeros(2, h2),
        torch.zeros(2, n_regions, d),
        torch.zeros(2, n_regions, a),
    )
    names = ["tokens", "state", "regions", "keys"]
    export_onnx(step_graph, example, out / "decoder_step.onnx", names, ["log_probs", "state_out", "attention"],
                {k: {0: "rows"} for k in [*names, "log_probs", "state_out", "attention"]})  # fmt: skip
    return enc_graph, step_graph


def greedy_torch(encoder, step: DecoderStepGraph, x: np.ndarray, bos: int, eos: int, limit: int) -> list[list[int]]:
    with torch.no_grad():
        regions, keys, state = EncoderGraph(encoder, step.decoder)(torch.from_numpy(x))
        tokens = torch.full((len(x),), bos, dtype=torch.long)
        rows: list[list[int]] = [[] for _ in x]
        done = [False] * len(x)
        for _ in range(limit):
            logp, state, _ = step(tokens, state, regions, keys)
            tokens = logp.argmax(1)
            for r, t in enumerate(tokens.tolist()):
                if not done[r]:
                    done[r] = t == eos
                    if not done[r]:
                        rows[r].append(t)
        return rows


def check_parity(
    enc_graph: EncoderGraph, step_graph: DecoderStepGraph, captioner: OnnxCaptioner, photos: np.ndarray
) -> dict[str, float]:
    """The encoder graph on batches of `photos`, the step graph on rows of random words and states."""
    diffs = {f"encoder@{b}": assert_parity(enc_graph, captioner.encoder, {"image": photos[:b]}, atol=1e-3)
             for b in ENCODER_BATCHES}  # fmt: skip
    config = step_graph.decoder.c
    rng = np.random.default_rng(1)
    encoded = captioner.encode(photos[: max(STEP_ROWS)])
    for n in STEP_ROWS:
        feeds = {
            "tokens": rng.integers(4, config.vocab, n).astype(np.int64),
            "state": (rng.standard_normal((n, 2 * config.hidden)) * 0.5).astype(np.float32),
            "regions": encoded["regions"][:n],
            "keys": encoded["keys"][:n],
        }
        diffs[f"decoder_step@{n}"] = assert_parity(step_graph, captioner.step, feeds, atol=1e-3)
    return diffs


def check_greedy(encoder: ImageEncoder, step_graph: DecoderStepGraph, captioner: OnnxCaptioner, photos: np.ndarray):
    """Raise AssertionError unless greedy decoding gives the same words in PyTorch and through the graphs."""
    in_torch = greedy_torch(encoder, step_graph, photos, captioner.bos, captioner.eos, captioner.max_length)
    in_onnx = captioner.token_ids(photos, 1)
    if in_torch != in_onnx:
        raise AssertionError(f"greedy decode differs between PyTorch and onnxruntime: {in_torch} vs {in_onnx}")
