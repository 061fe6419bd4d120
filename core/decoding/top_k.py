"""Each row's k best tokens of a decoder step's log-probs (N, V): values and token ids, best first, ties broken
by the lower token id (ONNX TopK's rule).

A beam search of beam b needs only each live row's 2b best tokens: the 2b best candidates of a sentence
(its rows' scores plus their log-probs) are among them. Two implementations of the same contract:
`TopK` runs onnxruntime's TopK (core/graphs/top_k.onnx, written by `python -m core.graphs.build`),
what the serving engine calls in its worker thread right after each decoder step; `row_top_k` is NumPy, for
drivers without a session (training's evaluation, the unit tests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

GRAPH = Path(__file__).resolve().parent.parent / "graphs" / "top_k.onnx"


def row_top_k(log_probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, V) -> values (N, k), tokens (N, k) int64; k is capped at V."""
    n, vocab = log_probs.shape
    k = min(k, vocab)
    if n == 0 or k == 0:
        return np.zeros((n, k), log_probs.dtype), np.zeros((n, k), np.int64)
    tokens = np.argpartition(log_probs, vocab - k, axis=1)[:, vocab - k :]
    values = np.take_along_axis(log_probs, tokens, axis=1)
    # argpartition breaks ties at the k-th value arbitrarily: where the k-th value occurs more often than it
    # was taken, take its lowest token ids instead (rare: bit-identical log-probs).
    kth = values.min(axis=1)
    for r in np.flatnonzero(np.count_nonzero(log_probs == kth[:, None], axis=1) > (values == kth[:, None]).sum(1)):
        row = log_probs[r]
        best = np.flatnonzero(row > kth[r])
        tied = np.flatnonzero(row == kth[r])[: k - len(best)]
        tokens[r] = np.concatenate([best, tied])
        values[r] = row[tokens[r]]
    order = np.lexsort((tokens, -values), axis=1)  # best first, then the lower token id
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(tokens, order, axis=1).astype(np.int64)


class TopK:
    """onnxruntime's TopK on the CPU (the log-probs arrive in host memory); thread-safe, as sessions are."""

    def __init__(self, intra_op_threads: int = 0) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        self.session = ort.InferenceSession(str(GRAPH), sess_options=options, providers=["CPUExecutionProvider"])

    def __call__(self, log_probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, log_probs.shape[1])
        feeds = {"log_probs": np.ascontiguousarray(log_probs, np.float32), "k": np.array([k], np.int64)}
        values, tokens = self.session.run(None, feeds)
        return values, tokens


class StepTopK:
    """The scheduler's reducer for beam searches: a step's `scored` output (rows, V) becomes each row's best
    tokens, as many as the step's most demanding job needs (`top_k`), before the jobs get their rows."""

    outputs = ("top_log_probs", "top_tokens")

    def __init__(self, scored: str, top_k: TopK) -> None:
        self.scored, self.top_k = scored, top_k

    def __call__(self, outs: dict[str, np.ndarray], jobs: list) -> dict[str, np.ndarray]:
        rest = {k: v for k, v in outs.items() if k != self.scored}
        values, tokens = self.top_k(outs[self.scored], max(job.top_k for job in jobs))
        return rest | dict(zip(self.outputs, (values, tokens), strict=True))
