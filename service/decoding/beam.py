"""Beam search (greedy is beam 1) over a decoder-step function, batched across sentences, in NumPy.

The decoder step is called once per iteration for every live hypothesis of every sentence together; the
per-sentence tensors (memory, masks) are gathered by each hypothesis's sentence index, so sentences of
different lengths and finishing at different steps share one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# step(tokens (N,), state (N, ...), sentence index (N,))
#   -> log-probs (N, V), new state (N, ...), attention (N, S) or None
StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray | None]]


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, EOS excluded
    score: float  # sum of log-probabilities, EOS included
    normalized: float  # score / length ** alpha, what beams are ranked by at the end
    attention: list[np.ndarray] = field(default_factory=list)  # one (S,) row per generated token


def length_normalized(score: float, length: int, alpha: float) -> float:
    return score / max(length, 1) ** alpha


def beam_search(
    step: StepFn,
    initial_state: np.ndarray,
    bos: int,
    eos: int,
    beam_size: int,
    max_lengths: list[int],
    alpha: float = 1.0,
    keep_attention: bool = False,
) -> list[Hypothesis]:
    """The best hypothesis for each of the B sentences whose decoder states are initial_state (B, ...)."""
    batch = initial_state.shape[0]
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    # Live hypotheses, one row each: sentence index, token history, running score, attention history.
    sent = np.arange(batch)
    state = initial_state
    last = np.full(batch, bos, dtype=np.int64)
    scores = np.zeros(batch)
    history: list[list[int]] = [[] for _ in range(batch)]
    attn_hist: list[list[np.ndarray]] = [[] for _ in range(batch)]
    t = 0
    while len(sent):
        logp, new_state, attn = step(last, state, sent)
        t += 1
        keep_rows, keep_tok, keep_score = [], [], []
        for s in np.unique(sent):
            rows = np.flatnonzero(sent == s)
            cand = (scores[rows, None] + logp[rows]).ravel()  # (rows * V,)
            k = min(2 * beam_size, cand.size)
            top = np.argpartition(-cand, k - 1)[:k]
            top = top[np.argsort(-cand[top], kind="stable")]
            vocab = logp.shape[1]
            alive = 0
            for flat in top:
                row, tok = rows[flat // vocab], int(flat % vocab)
                attn_rows = attn_hist[row] + [attn[row]] if keep_attention and attn is not None else []
                if tok == eos or t >= max_lengths[s]:
                    toks = history[row] if tok == eos else history[row] + [tok]
                    finished[s].append(
                        Hypothesis(toks, float(cand[flat]), length_normalized(float(cand[flat]), t, alpha), attn_rows)
                    )
                else:
                    keep_rows.append(row)
                    keep_tok.append(tok)
                    keep_score.append(float(cand[flat]))
                    alive += 1
                if alive == beam_size or len(finished[s]) >= beam_size:
                    break
            if len(finished[s]) >= beam_size or t >= max_lengths[s]:
                # This sentence is done: drop its live hypotheses from the next step.
                while keep_rows and sent[keep_rows[-1]] == s and alive:
                    keep_rows.pop(), keep_tok.pop(), keep_score.pop()
                    alive -= 1
        idx = np.array(keep_rows, dtype=np.int64)
        history = [history[r] + [tok] for r, tok in zip(keep_rows, keep_tok, strict=True)]
        if keep_attention and attn is not None:
            attn_hist = [attn_hist[r] + [attn[r]] for r in keep_rows]
        else:
            attn_hist = [[] for _ in keep_rows]
        sent, state = sent[idx], new_state[idx]
        last, scores = np.array(keep_tok, dtype=np.int64), np.array(keep_score)
    return [max(f, key=lambda h: h.normalized) for f in finished]
