"""Each row's best tokens: the NumPy and onnxruntime implementations agree exactly (ties included), the step
reducer asks for what the step's most demanding job needs, and a beam search fed each row's best tokens makes
exactly the choices it makes from the full log-probs."""

from __future__ import annotations

import numpy as np
import pytest

from core.decoding.beam import BeamSearch
from core.decoding.top_k import StepTopK, TopK, row_top_k


@pytest.fixture(scope="module")
def top_k() -> TopK:
    return TopK(intra_op_threads=1)


def test_numpy_and_onnxruntime_agree_with_ties(top_k):
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, vocab, k = int(rng.integers(0, 6)), int(rng.integers(1, 40)), int(rng.integers(1, 12))
        x = rng.integers(-5, 0, (n, vocab)).astype(np.float32)  # few distinct values: many ties
        (v1, t1), (v2, t2) = row_top_k(x, k), top_k(x, k)
        np.testing.assert_array_equal(v1, v2)
        np.testing.assert_array_equal(t1, t2)


def test_best_first_then_lower_token_id():
    values, tokens = row_top_k(np.array([[0.0, -1.0, 0.0, -2.0, 0.0]], np.float32), 2)
    np.testing.assert_array_equal(tokens, [[0, 2]])
    values, tokens = row_top_k(np.array([[-3.0, -1.0, -2.0]], np.float32), 5)  # k capped at the vocabulary
    np.testing.assert_array_equal(tokens, [[1, 2, 0]])
    np.testing.assert_array_equal(values, [[-1.0, -2.0, -3.0]])


def test_step_reducer_takes_the_largest_top_k(top_k):
    class Job:
        def __init__(self, k: int) -> None:
            self.top_k = k

    logp = np.log(np.random.default_rng(1).dirichlet(np.ones(50), 4)).astype(np.float32)
    attention = np.ones((4, 3), np.float32)
    out = StepTopK("log_probs", top_k)({"log_probs": logp, "attention": attention}, [Job(2), Job(6)])
    assert set(out) == {"attention", "top_log_probs", "top_tokens"} and out["attention"] is attention
    assert out["top_tokens"].shape == (4, 6)
    np.testing.assert_array_equal(out["top_tokens"], row_top_k(logp, 6)[1])


@pytest.mark.parametrize("beam", [1, 3, 5])
def test_beam_search_from_best_tokens_equals_full_log_probs(top_k, beam):
    rng = np.random.default_rng(beam)
    vocab, eos = 30, 1
    full = BeamSearch(np.zeros((3, 2)), 0, eos, beam, [6, 8, 4])
    best = BeamSearch(np.zeros((3, 2)), 0, eos, beam, [6, 8, 4])
    while not full.done:
        logp = np.log(rng.dirichlet(np.ones(vocab) * 0.3, len(full.sent))).astype(np.float32)
        logp[:, 2] = logp[:, 3]  # a tie in every row
        full.advance(logp, None, None)
        values, tokens = top_k(logp, best.top_k + 3)  # more than it needs, as in a step shared with a wider beam
        best.advance_top(values, tokens, None, None)
        np.testing.assert_array_equal(full.keep, best.keep)
        np.testing.assert_array_equal(full.last, best.last)
    assert best.done
    assert [(h.tokens, h.score) for h in full.best()] == [(h.tokens, h.score) for h in best.best()]
