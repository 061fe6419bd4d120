"""Caption scores with the coco-caption conventions (pycocoevalcap's BLEU-1..4 and CIDEr-D), and the
constant-caption baseline: the single training caption with the best corpus BLEU-4 on the training split.

Texts are compared as normalised words (lowercase, punctuation dropped: the caption tokenizer's
normalisation, close to coco-caption's PTB tokenisation with punctuation removed).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider


def coco_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 and CIDEr (x100, as papers report them) of one hypothesis per image."""
    res = {i: [h] for i, h in enumerate(hypotheses)}
    gts = {i: list(r) for i, r in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    out = {f"bleu{n + 1}": round(100 * b, 2) for n, b in enumerate(bleu)}
    return {**out, "cider": round(100 * float(cider), 2)}


def ngrams(words: Sequence[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


class ConstantCaptionSearch:
    """Corpus BLEU-4 of one caption repeated for every image, exact and fast enough for every candidate.

    With the same hypothesis everywhere, the clipped matches of an n-gram g used k times are
    sum_i min(k, maxref_i(g)), a number that depends on g and k only; the brevity penalty's reference length
    (closest reference per image) depends only on the hypothesis length. Both are precomputed.
    """

    def __init__(self, references: Sequence[Sequence[Sequence[str]]], max_len: int = 40) -> None:
        self.images = len(references)
        per_gram: dict[tuple[str, ...], list[int]] = {}
        for refs in references:
            best: Counter = Counter()
            for r in refs:
                for n in range(1, 5):
                    for g, c in ngrams(r, n).items():
                        best[g] = max(best[g], c)
            for g, c in best.items():
                per_gram.setdefault(g, []).append(c)
        self.maxref = {g: np.array(v) for g, v in per_gram.items()}
        lengths = [np.array([len(r) for r in refs]) for refs in references]
        self.ref_len = np.zeros(max_len + 1)
        for n in range(1, max_len + 1):  # closest reference length, the shorter on ties (coco-caption)
            self.ref_len[n] = sum(int(ls[np.lexsort((ls, np.abs(ls - n)))[0]]) for ls in lengths)
        self._clip: dict[tuple[tuple[str, ...], int], int] = {}

    def clipped(self, gram: tuple[str, ...], k: int) -> int:
        key = (gram, k)
        if key not in self._clip:
            v = self.maxref.get(gram)
            self._clip[key] = 0 if v is None else int(np.minimum(v, k).sum())
        return self._clip[key]

    def bleu4(self, words: Sequence[str]) -> float:
        n_words = len(words)
        if n_words < 4 or n_words >= len(self.ref_len):
            return 0.0
        log_p = 0.0
        for n in range(1, 5):
            match = sum(self.clipped(g, k) for g, k in ngrams(words, n).items())
            total = (n_words - n + 1) * self.images
            if match == 0:
                return 0.0
            log_p += math.log(match / total) / 4
        ratio = n_words * self.images / self.ref_len[n_words]
        bp = 1.0 if ratio >= 1 else math.exp(1 - 1 / ratio)
        return bp * math.exp(log_p)

    def best(self, candidates: Sequence[Sequence[str]]) -> tuple[list[str], float]:
        scored = ((self.bleu4(c), tuple(c)) for c in {tuple(c) for c in candidates})
        score, words = max(scored)
        return list(words), score
