"""Sampling with fixed logits: top-k keeps exactly k, top-p keeps the right mass, temperature, seeds; a row
sampled in a batch (the engine's StepSampler) draws exactly what it draws alone."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.decoding.sampling import (
    SamplingParams,
    StepSampler,
    filter_top_k,
    filter_top_p,
    greedy,
    sample,
    sample_rows,
    sampling_distribution,
    softmax,
)

LOGITS = np.log(np.array([[0.05, 0.4, 0.1, 0.3, 0.15]]))  # probabilities, as logits


def draws(params: SamplingParams, n: int = 4000, seed: int = 0) -> np.ndarray:
    rng = [np.random.default_rng(seed)]
    return np.array([int(sample(LOGITS, params, rng)[0]) for _ in range(n)])


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_keeps_exactly_k(k):
    kept = np.isfinite(filter_top_k(LOGITS, k))
    assert kept.sum() == k
    assert set(np.flatnonzero(kept[0])) == set(np.argsort(-LOGITS[0])[:k])
    assert set(draws(SamplingParams(top_k=k), 2000)) == set(np.flatnonzero(kept[0]))


def test_top_k_ties_still_keep_exactly_k():
    assert np.isfinite(filter_top_k(np.zeros((2, 10)), 3)).sum(axis=1).tolist() == [3, 3]


@pytest.mark.parametrize(
    ("p", "kept"), [(0.3, {1}), (0.4, {1}), (0.41, {1, 3}), (0.7, {1, 3}), (0.71, {1, 3, 4}), (1.0, {0, 1, 2, 3, 4})]
)
def test_top_p_keeps_smallest_set_reaching_mass(p, kept):
    out = filter_top_p(LOGITS, p)
    assert set(np.flatnonzero(np.isfinite(out[0]))) == kept
    dist = sampling_distribution(LOGITS, SamplingParams(top_p=p))[0]
    expected = np.zeros(5)
    idx = sorted(kept)
    expected[idx] = np.exp(LOGITS[0, idx]) / np.exp(LOGITS[0, idx]).sum()
    np.testing.assert_allclose(dist, expected, atol=1e-12)


def test_temperature_limits():
    cold = sampling_distribution(LOGITS, SamplingParams(temperature=0.01))[0]
    assert cold.argmax() == 1 and cold[1] > 0.999  # -> greedy
    hot = sampling_distribution(LOGITS, SamplingParams(temperature=1000.0))[0]
    np.testing.assert_allclose(hot, np.full(5, 0.2), atol=1e-3)  # -> uniform
    np.testing.assert_allclose(sampling_distribution(LOGITS, SamplingParams())[0], softmax(LOGITS)[0])


def test_empirical_frequencies_match_distribution():
    counts = np.bincount(draws(SamplingParams(), 20000), minlength=5) / 20000
    np.testing.assert_allclose(counts, [0.05, 0.4, 0.1, 0.3, 0.15], atol=0.015)


def test_seed_reproducibility():
    a, b = draws(SamplingParams(top_p=0.9), 300, seed=7), draws(SamplingParams(top_p=0.9), 300, seed=7)
    assert (a == b).all()
    assert not (a == draws(SamplingParams(top_p=0.9), 300, seed=8)).all()


def test_rows_use_their_own_generators():
    """Row b's draw depends only on rngs[b]: batching sequences together never changes their samples."""
    logits = np.repeat(LOGITS, 3, axis=0)
    together = sample(logits, SamplingParams(), [np.random.default_rng(s) for s in (1, 2, 3)])
    alone = [int(sample(LOGITS, SamplingParams(), [np.random.default_rng(s)])[0]) for s in (1, 2, 3)]
    assert together.tolist() == alone
    assert greedy(logits).tolist() == [1, 1, 1]


MIXED = [SamplingParams(), SamplingParams(0.8, 40), SamplingParams(1.3, None, 0.9), SamplingParams(0.5, 5, 0.95)]


@pytest.mark.parametrize("vocab", [65, 8000])
@pytest.mark.parametrize("params", MIXED)
def test_a_row_has_the_same_distribution_bits_in_any_batch(vocab, params):
    logits = np.random.default_rng(vocab).standard_normal((33, vocab)).astype(np.float32) * 4
    for rows in (2, 7, 16, 33):
        together = np.cumsum(sampling_distribution(logits[:rows], params), axis=-1)
        alone = np.concatenate([np.cumsum(sampling_distribution(logits[r : r + 1], params), axis=-1)
                                for r in range(rows)])  # fmt: skip
        assert np.array_equal(together, alone)  # bit for bit, not approximately


@pytest.mark.parametrize("mixed", [True, False])
def test_sample_rows_draws_what_each_row_draws_alone(mixed):
    rng = np.random.default_rng(0)
    params = [MIXED[i % len(MIXED)] if mixed else MIXED[1] for i in range(13)]
    batched = [np.random.default_rng(s) for s in range(13)]
    single = [np.random.default_rng(s) for s in range(13)]
    for _ in range(200):  # 200 steps: the generators advance in step
        logits = rng.standard_normal((13, 65)).astype(np.float32) * 3
        together = sample_rows(logits, params, batched)
        alone = [int(sample(logits[r : r + 1], params[r], [single[r]])[0]) for r in range(13)]
        assert together.tolist() == alone


def test_step_sampler_replaces_the_logits_with_each_jobs_tokens():
    two = [np.random.default_rng(2), np.random.default_rng(3)]
    jobs = [SimpleNamespace(rows=1, sampling=MIXED[1], rng=[np.random.default_rng(1)]),
            SimpleNamespace(rows=2, sampling=MIXED[2], rng=two)]  # fmt: skip
    logits = np.random.default_rng(4).standard_normal((3, 65)).astype(np.float32)
    state = np.zeros((2, 3, 8), np.float32)
    out = StepSampler("logits")({"logits": logits, "h_out": state}, jobs)
    assert set(out) == {"sampled", "h_out"} and out["h_out"] is state
    expected = [sample(logits[:1], MIXED[1], [np.random.default_rng(1)])[0],
                *sample(logits[1:], MIXED[2], [np.random.default_rng(2), np.random.default_rng(3)])]  # fmt: skip
    assert out["sampled"].dtype == np.int64 and out["sampled"].tolist() == [int(t) for t in expected]


@pytest.mark.parametrize(
    "kwargs", [{"temperature": 0}, {"temperature": -1}, {"top_k": 0}, {"top_p": 0}, {"top_p": 1.5}]
)
def test_invalid_parameters(kwargs):
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)
