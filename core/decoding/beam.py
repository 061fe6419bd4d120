"""Beam search (greedy is beam 1) as a step-by-step state machine, batched across sentences, in NumPy.

`BeamSearch` holds the live hypotheses of B sentences as rows: `last` tokens, decoder `state`, and `sent`,
each row's sentence index (to gather per-sentence tensors such as the encoder memory). `advance` takes the
decoder step's output for those rows. Any driver can run it: `BeamSearch.run` calls the step directly,
and the serving engine's scheduler advances many searches in one decoder call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.decoding.top_k import row_top_k

# step(tokens (N,), state (N, ...), sentence index (N,))
#   -> log-probs (N, V), new state (N, ...), attention (N, S) or None
StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray | None]]
# top_k(log-probs (N, V), k) -> values (N, k), tokens (N, k), best first
TopKFn = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, EOS excluded
    score: float  # sum of log-probabilities, EOS included
    normalized: float  # score / length ** alpha, what beams are ranked by at the end
    attention: list[np.ndarray] = field(default_factory=list)  # one (S,) row per step


def length_normalized(score: float, length: int, alpha: float) -> float:
    return score / max(length, 1) ** alpha


class BeamSearch:
    def __init__(
        self,
        initial_state: np.ndarray,
        bos: int,
        eos: int,
        beam_size: int,
        max_lengths: list[int],
        alpha: float = 1.0,
        keep_attention: bool = False,
    ) -> None:
        batch = initial_state.shape[0]
        self.eos, self.beam_size, self.max_lengths = eos, beam_size, max_lengths
        self.alpha, self.keep_attention = alpha, keep_attention
        self.finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
        self.sent = np.arange(batch)  # (N,) sentence of each live row
        self.state = initial_state  # (N, ...)
        self.last = np.full(batch, bos, dtype=np.int64)  # (N,)
        self.scores = np.zeros(batch)  # (N,)
        self.keep = np.arange(batch)  # after advance: the rows of the last step that continue, in order
        self.history: list[list[int]] = [[] for _ in range(batch)]
        self.attn_hist: list[list[np.ndarray]] = [[] for _ in range(batch)]
        self.t = 0

    @property
    def done(self) -> bool:
        return len(self.sent) == 0

    @property
    def rows(self) -> int:
        return len(self.sent)

    def advance(self, logp: np.ndarray, new_state: np.ndarray | None, attn: np.ndarray | None) -> None:
        """Extend every live hypothesis by the step's log-probs (N, V); keep the best `beam_size` per sentence.

        `new_state` is None when the caller keeps the state itself (the serving engine): it selects `keep`."""
        self.advance_top(*row_top_k(logp, self.top_k), new_state, attn)

    @property
    def top_k(self) -> int:
        """How many of each row's best tokens `advance_top` needs: a sentence's 2 x beam best candidates (enough
        to keep `beam_size` alive when some of them end) are among its rows' 2 x beam best tokens."""
        return 2 * self.beam_size

    def advance_top(
        self, values: np.ndarray, tokens: np.ndarray, new_state: np.ndarray | None, attn: np.ndarray | None
    ) -> None:
        """`advance` from each row's best tokens, best first (N, K >= top_k, or all of a smaller vocabulary)."""
        self.t += 1
        t, width = self.t, values.shape[1]
        keep_rows: list[int] = []
        keep_tok: list[int] = []
        keep_score: list[float] = []
        for s in np.unique(self.sent):
            rows = np.flatnonzero(self.sent == s)
            cand = (self.scores[rows, None] + values[rows]).ravel()  # (rows * K,)
            ids = tokens[rows].ravel()
            top = np.argsort(-cand, kind="stable")[: min(2 * self.beam_size, cand.size)]
            alive = 0
            for flat in top:
                row, tok = int(rows[flat // width]), int(ids[flat])
                if tok == self.eos or t >= self.max_lengths[s]:
                    self._finish(s, row, tok, float(cand[flat]), attn)
                else:
                    keep_rows.append(row)
                    keep_tok.append(tok)
                    keep_score.append(float(cand[flat]))
                    alive += 1
                if alive == self.beam_size or len(self.finished[s]) >= self.beam_size:
                    break
            if len(self.finished[s]) >= self.beam_size or t >= self.max_lengths[s]:
                del keep_rows[len(keep_rows) - alive :], keep_tok[len(keep_tok) - alive :]
                del keep_score[len(keep_score) - alive :]  # this sentence is done: its live rows leave
        idx = np.array(keep_rows, dtype=np.int64)
        self.history = [self.history[r] + [tok] for r, tok in zip(keep_rows, keep_tok, strict=True)]
        if self.keep_attention and attn is not None:
            self.attn_hist = [self.attn_hist[r] + [attn[r]] for r in keep_rows]
        else:
            self.attn_hist = [[] for _ in keep_rows]
        self.keep, self.sent = idx, self.sent[idx]
        self.state = new_state[idx] if new_state is not None else None
        self.last, self.scores = np.array(keep_tok, dtype=np.int64), np.array(keep_score)

    def _finish(self, s: int, row: int, tok: int, score: float, attn: np.ndarray | None) -> None:
        tokens = self.history[row] if tok == self.eos else self.history[row] + [tok]
        attention = self.attn_hist[row] + [attn[row]] if self.keep_attention and attn is not None else []
        self.finished[s].append(Hypothesis(tokens, score, length_normalized(score, self.t, self.alpha), attention))

    def best(self) -> list[Hypothesis]:
        return [max(f, key=lambda h: h.normalized) for f in self.finished]

    def run(self, step: StepFn, top_k: TopKFn = row_top_k) -> list[Hypothesis]:
        """Call `step` directly until every sentence is done; the best hypothesis of each. `top_k` picks each
        row's best tokens: NumPy by default, or onnxruntime's TopK (core/decoding/top_k.py), the engine's."""
        while not self.done:
            logp, new_state, attn = step(self.last, self.state, self.sent)
            self.advance_top(*top_k(logp, self.top_k), new_state, attn)
        return self.best()


class BeamJob:
    """A request's beam search as a scheduler job: its rows are the live hypotheses; subclasses say which
    tensors the decoder step gets (`feeds`), and every step's log-probs, state and attention advance it."""

    def __init__(self, search: BeamSearch) -> None:
        self.search = search

    @property
    def done(self) -> bool:
        return self.search.done

    @property
    def rows(self) -> int:
        return self.search.rows

    @property
    def keep(self) -> np.ndarray:
        return self.search.keep

    @property
    def top_k(self) -> int:
        return self.search.top_k

    def update(self, outputs: dict[str, np.ndarray]) -> None:
        """A step's outputs for this job's rows: full `log_probs`, or each row's best tokens (`top_log_probs`,
        `top_tokens`) when the engine ran TopK after the step."""
        attn, state = outputs["attention"], outputs.get("state_out")
        if "top_tokens" in outputs:
            self.search.advance_top(outputs["top_log_probs"], outputs["top_tokens"], state, attn)
        else:
            self.search.advance(outputs["log_probs"], state, attn)
