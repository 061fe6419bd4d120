"""Sampling from logits in NumPy: temperature, top-k and top-p (nucleus), with a seeded generator per row.

`StepSampler` is the serving engine's reducer for sampled generation: in the worker thread, right after a
decoder step, it samples every row of the step at once (rows grouped by their parameters) instead of each job
sampling its own row on the event loop. A row's draw is the one `sample` makes for that row alone: every
operation here works row by row, and tests/service/test_sampling.py checks the tokens bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0  # > 0; lower is more conservative
    top_k: int | None = None  # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set whose probability mass reaches p

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def filter_top_k(logits: np.ndarray, k: int) -> np.ndarray:
    """(B, V) logits with all but exactly k entries per row set to -inf (ties broken by index)."""
    if k >= logits.shape[-1]:
        return logits
    keep = np.argsort(-logits, axis=-1, kind="stable")[..., :k]
    out = np.full_like(logits, -np.inf)
    np.put_along_axis(out, keep, np.take_along_axis(logits, keep, axis=-1), axis=-1)
    return out


def filter_top_p(logits: np.ndarray, p: float) -> np.ndarray:
    """(B, V) logits keeping, per row, the most likely tokens until their mass reaches p (at least one)."""
    order = np.argsort(-logits, axis=-1, kind="stable")
    probs = np.take_along_axis(softmax(logits), order, axis=-1)
    mass_before = np.cumsum(probs, axis=-1) - probs  # mass of the strictly more likely tokens
    keep_sorted = mass_before < p
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, logits, -np.inf)


def sampling_distribution(logits: np.ndarray, params: SamplingParams) -> np.ndarray:
    """(B, V) logits -> (B, V) probabilities after temperature, top-k, then top-p."""
    x = logits.astype(np.float64) / params.temperature
    if params.top_k is not None:
        x = filter_top_k(x, params.top_k)
    if params.top_p is not None:
        x = filter_top_p(x, params.top_p)
    return softmax(x)


def sample(logits: np.ndarray, params: SamplingParams, rngs: list[np.random.Generator]) -> np.ndarray:
    """One token id per row of (B, V) logits, row b drawn with rngs[b] (so batching never changes a draw)."""
    probs = sampling_distribution(logits, params)
    cdf = np.cumsum(probs, axis=-1)
    u = np.array([rng.random() for rng in rngs]) * cdf[:, -1]
    ids = (cdf <= u[:, None]).sum(axis=-1)  # first index whose cdf exceeds u; zero-probability ids never win
    return np.minimum(ids, probs.shape[-1] - 1).astype(np.int64)


def sample_rows(logits: np.ndarray, params: list[SamplingParams], rngs: list[np.random.Generator]) -> np.ndarray:
    """One token id per row of (B, V) logits, row b drawn with params[b] and rngs[b]; rows that share their
    parameters are sampled in one call."""
    groups: dict[SamplingParams, list[int]] = {}
    for row, p in enumerate(params):
        groups.setdefault(p, []).append(row)
    if len(groups) == 1:
        return sample(logits, params[0], rngs)
    ids = np.empty(len(params), np.int64)
    for p, rows in groups.items():
        ids[rows] = sample(logits[rows], p, [rngs[r] for r in rows])
    return ids


class StepSampler:
    """The scheduler's reducer for generation: a step's `scored` output (rows, V) becomes each row's sampled
    token (`sampled`, (rows,) int64), drawn with its job's parameters (`sampling`) and generators (`rng`)."""

    outputs = ("sampled",)

    def __init__(self, scored: str) -> None:
        self.scored = scored

    def __call__(self, outs: dict[str, np.ndarray], jobs: list) -> dict[str, np.ndarray]:
        params = [job.sampling for job in jobs for _ in range(job.rows)]
        rngs = [rng for job in jobs for rng in job.rng]
        rest = {k: v for k, v in outs.items() if k != self.scored}
        return rest | {"sampled": sample_rows(outs[self.scored], params, rngs)}


def greedy(logits: np.ndarray) -> np.ndarray:
    return logits.argmax(axis=-1).astype(np.int64)
