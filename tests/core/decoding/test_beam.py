"""Beam search on tiny hand-built step functions whose best sequences are known."""

from __future__ import annotations

import numpy as np
import pytest

from core.decoding.beam import BeamSearch
from core.decoding.top_k import TopK

BOS, EOS, A, B = 1, 2, 3, 4
V = 5


def table_step(tables: dict[int, dict[int, float]], per_sentence: dict[int, dict] | None = None):
    """A step function: next-token probabilities depend only on the previous token (and the sentence)."""

    def step(tokens: np.ndarray, state: np.ndarray, sent: np.ndarray):
        logp = np.full((len(tokens), V), -1e9)
        for r, (tok, s) in enumerate(zip(tokens, sent, strict=True)):
            table = (per_sentence or {}).get(int(s), tables)
            for nxt, p in table.get(int(tok), {}).items():
                logp[r, nxt] = np.log(p)
        return logp, state + 1, np.tile(np.array([[0.25, 0.75]]), (len(tokens), 1))

    return step


# Greedy takes A (0.6) then must end cheaply: A EOS = 0.6 * 0.4 = 0.24. Beam finds B EOS = 0.4 * 0.9 = 0.36.
TRAP = {BOS: {A: 0.6, B: 0.4}, A: {A: 0.3, B: 0.3, EOS: 0.4}, B: {EOS: 0.9, A: 0.1}}


def run(step, beam, n=1, max_len=10, **kw):
    return BeamSearch(np.zeros((n, 1)), BOS, EOS, beam, [max_len] * n, **kw).run(step)


def test_greedy_falls_into_the_trap_and_beam_escapes():
    assert run(table_step(TRAP), 1)[0].tokens == [A]
    best = run(table_step(TRAP), 2)[0]
    assert best.tokens == [B]
    assert best.score == pytest.approx(np.log(0.36))
    assert best.normalized == pytest.approx(np.log(0.36) / 2)  # length counts the EOS


def test_length_normalisation_prefers_longer_when_alpha_is_high():
    # "A EOS" = 0.5 * 0.5 = 0.25 (2 tokens); "B A EOS" = 0.5 * 1.0 * 0.45 = 0.225 (3 tokens)
    table = {BOS: {A: 0.5, B: 0.5}, A: {EOS: 0.5, B: 0.5}, B: {A: 1.0}}
    assert run(table_step(table), 3, alpha=0.0)[0].tokens == [A]  # raw probability
    assert run(table_step(table), 3, alpha=1.0)[0].tokens == [B, A]  # per-token average: log(.225)/3 > log(.25)/2


def test_sentences_in_one_batch_equal_sentences_alone():
    other = {BOS: {B: 0.9, A: 0.1}, B: {B: 0.5, EOS: 0.5}, A: {EOS: 1.0}}
    step = table_step(TRAP, per_sentence={1: other})
    together = run(step, 3, n=3)
    alone = [run(table_step(TRAP), 3)[0], run(table_step(other), 3)[0], run(table_step(TRAP), 3)[0]]
    assert [h.tokens for h in together] == [h.tokens for h in alone] == [[B], [B], [B]]
    assert [h.score for h in together] == pytest.approx([h.score for h in alone])


def test_max_length_stops_endless_sequences():
    endless = {BOS: {A: 1.0}, A: {A: 0.99, EOS: 0.01}}
    hyp = run(table_step(endless), 1, max_len=7)[0]
    assert hyp.tokens == [A] * 7


def test_attention_rows_are_kept_per_token():
    hyp = run(table_step(TRAP), 2, keep_attention=True)[0]
    assert len(hyp.attention) == len(hyp.tokens) + 1  # one row per step, the EOS step included
    np.testing.assert_allclose(hyp.attention[0], [0.25, 0.75])


def test_onnxruntime_top_k_gives_the_same_search_as_numpy():
    other = {BOS: {B: 0.9, A: 0.1}, B: {B: 0.5, EOS: 0.5}, A: {EOS: 1.0}}
    step = table_step(TRAP, per_sentence={1: other})
    with_numpy = run(step, 3, n=3, alpha=0.5)
    search = BeamSearch(np.zeros((3, 1)), BOS, EOS, 3, [10] * 3, alpha=0.5)
    with_ort = search.run(step, TopK())  # float32 log-probs: the scores agree to float32 precision
    assert [h.tokens for h in with_ort] == [h.tokens for h in with_numpy]
    assert [h.score for h in with_ort] == pytest.approx([h.score for h in with_numpy], rel=1e-6)
