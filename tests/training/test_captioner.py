"""The captioner: attention is a distribution over regions, export parity, and greedy decoding that is identical
in PyTorch and in the service's runtime on the exported graphs (a tiny random model, so it runs in seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.manifest import Manifest
from service.runtimes.captioner import CaptionerRuntime
from training.captioning.export import greedy_torch
from training.export import assert_parity, cpu_session

BANNED = [0, 1, 3]


def test_region_grid_and_concepts(tiny_captioner):
    enc, _ = tiny_captioner()
    regions = enc(torch.randn(3, 3, 32, 32))
    assert regions.shape == (3, 4, 16)  # 32 / 16 = 2 x 2 regions of 16 channels
    assert enc.concept_logits(regions).shape == (3, 10)


@pytest.mark.parametrize("attention", ["soft", "none", "first"])
def test_teacher_forcing_shapes_and_attention_sums_to_one(tiny_captioner, attention):
    enc, dec = tiny_captioner(attention)
    regions = enc(torch.randn(2, 3, 32, 32))
    logits, alpha = dec(regions, torch.randint(4, 40, (2, 5)))
    assert logits.shape == (2, 5, 40) and alpha.shape == (2, 5, 4)
    torch.testing.assert_close(alpha.sum(2), torch.ones(2, 5))


def runtime_for(export) -> CaptionerRuntime:
    return CaptionerRuntime(Manifest.model_validate(export.manifest), export.folder, "cpu")


@pytest.mark.parametrize("attention", ["soft", "none", "first"])
def test_export_parity_and_greedy_equality(captioner_export, attention):
    export = captioner_export(attention)
    x = np.random.default_rng(1).standard_normal((7, 3, 32, 32)).astype(np.float32)
    enc_session = cpu_session(export.folder / "encoder.onnx")
    step_session = cpu_session(export.folder / "decoder_step.onnx")
    for b in (1, 3, 7):
        assert assert_parity(export.enc_graph, enc_session, {"image": x[:b]}, atol=1e-4) < 1e-4
    regions, keys, state = enc_session.run(None, {"image": x})
    for n in (1, 4, 7):
        feeds = {"tokens": np.arange(4, 4 + n, dtype=np.int64), "state": state[:n], "regions": regions[:n],
                 "keys": keys[:n]}  # fmt: skip
        assert_parity(export.step_graph, step_session, feeds, atol=1e-4)
    used = {i.name for i in step_session.get_inputs()}  # the attention-free graph has no `keys` input
    feeds = {"tokens": np.full(2, 1, np.int64), "state": state[:2], "regions": regions[:2], "keys": keys[:2]}
    logp = step_session.run(["log_probs"], {k: v for k, v in feeds.items() if k in used})[0]
    assert (logp[:, BANNED] < -1e8).all(), "pad, BOS and unknown word can never be generated"

    runtime = runtime_for(export)
    expected = greedy_torch(export.encoder, export.step_graph, x, 1, 2, 12)
    got = [[runtime.tokenizer.token_to_id(w) for w in r.best.words] for r in runtime.caption(x, beam_size=1)]
    assert got == expected


def test_runtime_beam_alternatives_and_attention(captioner_export):
    runtime = runtime_for(captioner_export())
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
