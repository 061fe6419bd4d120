"""The captioner: attention is a distribution over regions, export parity, and greedy decoding that is identical
in PyTorch and in the service's runtime on the exported graphs (a tiny random model, so it runs in seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.manifest import Manifest
from service.runtimes.captioner import CaptionerRuntime
from training.export import assert_parity, cpu_session, graph_entry, reference_pair
from training.models.captioner import CaptionDecoder, CaptionerConfig, ImageEncoder
from training.tasks.captioner_export import export_graphs, greedy_torch
from training.tokenization import train_words

BANNED = [0, 1, 3]


def tiny(attention: str = "soft") -> tuple[ImageEncoder, CaptionDecoder]:
    torch.manual_seed(0)
    cfg = CaptionerConfig(vocab=40, concepts=10, channels=(4, 8, 8, 16), image_size=32, embed_dim=8, hidden=12,
                          attn_dim=6, dropout=0.0, attention=attention)  # fmt: skip
    return ImageEncoder(cfg).eval(), CaptionDecoder(cfg).eval()


def test_region_grid_and_concepts():
    enc, _ = tiny()
    regions = enc(torch.randn(3, 3, 32, 32))
    assert regions.shape == (3, 4, 16)  # 32 / 16 = 2 x 2 regions of 16 channels
    assert enc.concept_logits(regions).shape == (3, 10)


@pytest.mark.parametrize("attention", ["soft", "none", "first"])
def test_teacher_forcing_shapes_and_attention_sums_to_one(attention):
    enc, dec = tiny(attention)
    regions = enc(torch.randn(2, 3, 32, 32))
    logits, alpha = dec(regions, torch.randint(4, 40, (2, 5)))
    assert logits.shape == (2, 5, 40) and alpha.shape == (2, 5, 4)
    torch.testing.assert_close(alpha.sum(2), torch.ones(2, 5))


def runtime_for(folder, enc_graph, vocab_words):
    tok = train_words([" ".join(vocab_words)] * 2, 1)
    tok.save(str(folder / "tokenizer.json"))
    probe = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    manifest = {
        "name": "tiny-captioner", "version": 1, "task": "caption",
        "graphs": {"encoder": graph_entry(folder / "encoder.onnx"),
                   "decoder_step": graph_entry(folder / "decoder_step.onnx")},
        "preprocessing": {"kind": "photo", "resize": 40, "crop": 32, "mean": [0.5] * 3, "std": [0.25] * 3},
        "tokenizer": "tokenizer.json", "special_tokens": {"pad": 0, "bos": 1, "eos": 2},
        "decoding": {"beam_size": 3, "alpha": 1.0, "max_length": 12},
        "reference": reference_pair(cpu_session(folder / "encoder.onnx"), "encoder", {"image": probe}),
    }  # fmt: skip
    return CaptionerRuntime(Manifest.model_validate(manifest), folder, "cpu"), tok


@pytest.mark.parametrize("attention", ["soft", "none", "first"])
def test_export_parity_and_greedy_equality(tmp_path, attention):
    enc, dec = tiny(attention)
    enc_graph, step_graph = export_graphs(enc, dec, BANNED, tmp_path)
    x = np.random.default_rng(1).standard_normal((7, 3, 32, 32)).astype(np.float32)
    enc_session, step_session = cpu_session(tmp_path / "encoder.onnx"), cpu_session(tmp_path / "decoder_step.onnx")
    for b in (1, 3, 7):
        assert assert_parity(enc_graph, enc_session, {"image": x[:b]}, atol=1e-4) < 1e-4
    regions, keys, state = enc_session.run(None, {"image": x})
    for n in (1, 4, 7):
        feeds = {"tokens": np.arange(4, 4 + n, dtype=np.int64), "state": state[:n], "regions": regions[:n],
                 "keys": keys[:n]}  # fmt: skip
        assert_parity(step_graph, step_session, feeds, atol=1e-4)
    used = {i.name for i in step_session.get_inputs()}  # the attention-free graph has no `keys` input
    feeds = {"tokens": np.full(2, 1, np.int64), "state": state[:2], "regions": regions[:2], "keys": keys[:2]}
    logp = step_session.run(["log_probs"], {k: v for k, v in feeds.items() if k in used})[0]
    assert (logp[:, BANNED] < -1e8).all(), "pad, BOS and unknown word can never be generated"

    vocab_words = [f"w{i}" for i in range(36)]  # ids 4..39 after the 4 specials
    runtime, tok = runtime_for(tmp_path, enc_graph, vocab_words)
    expected = greedy_torch(enc, step_graph, x, 1, 2, 12)
    got = [[tok.token_to_id(w) for w in r.best.words] for r in runtime.caption(x, beam_size=1)]
    assert got == expected


def test_runtime_beam_alternatives_and_attention(tmp_path):
    enc, dec = tiny()
    enc_graph, _ = export_graphs(enc, dec, BANNED, tmp_path)
    runtime, _ = runtime_for(tmp_path, enc_graph, [f"w{i}" for i in range(36)])
    x = np.random.default_rng(2).standard_normal((3, 3, 32, 32)).astype(np.float32)
    results = runtime.caption(x, beam_size=4, alternatives=3)
    assert len(results) == 3
    for r in results:
        scores = [r.best.score] + [a.score for a in r.alternatives]
        assert scores == sorted(scores, reverse=True) and 1 <= len(r.alternatives) <= 3
        assert r.best.attention.shape == (len(r.best.words), 4)
        assert all(w.startswith("w") for w in r.best.words)
    alone = runtime.caption(x[1:2], beam_size=4)[0]
    assert alone.best.text == results[1].best.text  # batching photos together changes nothing
