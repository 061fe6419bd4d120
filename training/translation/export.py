"""The translator's ONNX graphs (encoder, decoder step; dynamic in batch and source length) and their parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from training.export import assert_parity, cpu_session, export_onnx
from training.models.seq2seq import DecoderStepExport, EncoderExport, Seq2Seq
from training.tokenization import encode

MEM = {0: "batch", 1: "mem_len"}
ENCODER_AXES = {"tokens": {0: "batch", 1: "src_len"}, "lengths": {0: "batch"}, "memory": MEM, "keys": MEM,
                "mask": MEM, "state": {0: "batch"}}  # fmt: skip
STEP_AXES = {"tokens": {0: "batch"}, "state": {0: "batch"}, "memory": MEM, "keys": MEM, "mask": MEM,
             "log_probs": {0: "batch"}, "state_out": {0: "batch"}, "attention": MEM}  # fmt: skip


def torch_greedy(model: Seq2Seq, s: torch.Tensor, lengths: torch.Tensor, bos: int, eos: int, max_len: int):
    memory, keys, mask, state = model.encoder(s, lengths)
    step = DecoderStepExport(model)
    tok = torch.full((s.shape[0],), bos, dtype=torch.long)
    out = []
    for _ in range(max_len):
        logp, state, _ = step(tok, state, memory, keys, mask)
        tok = logp.argmax(-1)
        out.append(tok)
    return torch.stack(out, 1)


def check_parity(model: Seq2Seq, folder: Path, src_tok: Tokenizer, sentences: list[str], bos: int, eos: int) -> dict:
    """Encoder and step graphs against PyTorch at several batch sizes and lengths; a greedy decode must match."""
    enc, dec = cpu_session(folder / "encoder.onnx"), cpu_session(folder / "decoder_step.onnx")
    diffs = {}
    for b in (1, 5, 16):
        ids = [encode(src_tok, t) for t in sentences[:b]]
        s = torch.zeros(b, max(map(len, ids)), dtype=torch.long)
        for r, row in enumerate(ids):
            s[r, : len(row)] = torch.tensor(row)
        lengths = torch.tensor([len(r) for r in ids])
        diffs[f"encoder_b{b}"] = assert_parity(
            EncoderExport(model), enc, {"tokens": s.numpy(), "lengths": lengths.numpy()}, 1e-4
        )
        with torch.no_grad():
            memory, keys, mask, state = model.encoder(s, lengths)
            feeds = {"tokens": torch.full((b,), bos).numpy(), "state": state.numpy(), "memory": memory.numpy(),
                     "keys": keys.numpy(), "mask": mask.numpy()}  # fmt: skip
            diffs[f"step_b{b}"] = assert_parity(DecoderStepExport(model), dec, feeds, 1e-4)
            greedy_t = torch_greedy(model, s, lengths, bos, eos, 30).numpy()
        m, k, mk, st = enc.run(None, {"tokens": s.numpy(), "lengths": lengths.numpy()})
        tok = np.full(b, bos, np.int64)
        greedy_o = []
        for _ in range(30):
            logp, st, _ = dec.run(None, {"tokens": tok, "state": st, "memory": m, "keys": k, "mask": mk})
            tok = logp.argmax(-1)
            greedy_o.append(tok)
        if not (np.stack(greedy_o, 1) == greedy_t).all():
            raise AssertionError(f"greedy decode differs between PyTorch and onnxruntime at batch {b}")
    return diffs


def export_graphs(model: Seq2Seq, out: Path, bos: int) -> dict[str, Path]:
    """encoder.onnx and decoder_step.onnx, dynamic in batch and source length; their paths by manifest key."""
    s, lengths = torch.tensor([[5, 6, 7], [8, 9, 0]]), torch.tensor([3, 2])
    with torch.no_grad():
        memory, keys, mask, state = model.encoder(s, lengths)
    enc_io = (["tokens", "lengths"], ["memory", "keys", "mask", "state"])
    export_onnx(EncoderExport(model), (s, lengths), out / "encoder.onnx", *enc_io, ENCODER_AXES)
    step_io = (["tokens", "state", "memory", "keys", "mask"], ["log_probs", "state_out", "attention"])
    step_args = (torch.tensor([bos, bos]), state, memory, keys, mask)
    export_onnx(DecoderStepExport(model), step_args, out / "decoder_step.onnx", *step_io, STEP_AXES)
    return {"encoder": out / "encoder.onnx", "decoder_step": out / "decoder_step.onnx"}
