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


class CiderD:
    """CIDEr-D of single captions, as coco-caption computes it (pycocoevalcap's `Cider`: tf-idf vectors of the
    1..4-grams, hypothesis weights clipped to the reference's, a Gaussian penalty on the length difference with
    sigma 6, the mean over n-gram orders and references, x10), with document frequencies taken once from a fixed
    corpus of references. pycocoevalcap takes them from the images it is scoring; fixing them makes a caption's
    score independent of the batch it is drawn in, which a training reward needs (self-critical training).

    Words can be any hashable tokens (strings or token ids)."""

    def __init__(self, references: Sequence[Sequence[Sequence]], n: int = 4, sigma: float = 6.0) -> None:
        self.n, self.sigma = n, sigma
        counts = [[self._counts(r) for r in refs] for refs in references]
        doc_freq = Counter(g for refs in counts for g in set().union(*refs))
        self.log_docs = math.log(len(references))
        self.log_df = {g: math.log(max(1.0, c)) for g, c in doc_freq.items()}
        self.refs = [[self._vector(c) for c in refs] for refs in counts]

    def _counts(self, words: Sequence) -> Counter:
        words = list(words)
        return Counter(tuple(words[i : i + k]) for k in range(1, self.n + 1) for i in range(len(words) - k + 1))

    def _vector(self, counts: Counter) -> tuple[list[dict], list[float], int]:
        vec: list[dict] = [{} for _ in range(self.n)]
        norm = [0.0] * self.n
        length = 0
        for g, tf in counts.items():
            k = len(g) - 1
            vec[k][g] = w = tf * (self.log_docs - self.log_df.get(g, 0.0))
            norm[k] += w * w
            length += tf if k == 1 else 0  # coco-caption measures length in bigrams
        return vec, [math.sqrt(v) for v in norm], length

    def score(self, image: int, words: Sequence) -> float:
        """CIDEr-D of one caption of reference image `image` (on coco-caption's scale: x100 is the usual figure)."""
        hyp, hyp_norm, hyp_len = self._vector(self._counts(words))
        refs = self.refs[image]
        total = 0.0
        for ref, ref_norm, ref_len in refs:
            penalty = math.exp(-((hyp_len - ref_len) ** 2) / (2 * self.sigma**2))
            for k in range(self.n):
                if hyp_norm[k] and ref_norm[k]:
                    r = ref[k]
                    dot = sum(min(w, r.get(g, 0.0)) * r.get(g, 0.0) for g, w in hyp[k].items())
                    total += dot / (hyp_norm[k] * ref_norm[k]) * penalty
        return 10.0 * total / (self.n * len(refs))
