"""A translator's input texts as the sentences it reads, and the sentences' translations put back together.

The translators learned from Multi30k, one sentence per example. Given a paragraph, a model translates roughly
its first sentence and stops (three sentences in, "Ein Mann spielt auf dem Fahrrad." out). So each text is
split into sentences (sentencex, Wikimedia's rule-based segmenter: no model files to fetch), each sentence is
read in sentence case where it was written in capitals or title case (`casing`) and translated as a row of its
own, and a text's translation is its sentences' translations joined by spaces. No Multi30k validation or test
sentence is split.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentencex import segment

from core.errors import InputError
from core.preprocessing.casing import Cased, normalize

MAX_SENTENCES = 64  # per request, whether as 64 one-sentence texts or fewer texts of several sentences


@dataclass(frozen=True)
class Sentences:
    cases: list[Cased]  # each sentence as the model reads it, and how its translation is cased back
    owners: list[int]  # the text each sentence came from

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.cases]

    def groups(self) -> list[list[int]]:
        """The indices of each text's sentences, in order."""
        out: list[list[int]] = [[] for _ in range(self.owners[-1] + 1 if self.owners else 0)]
        for i, owner in enumerate(self.owners):
            out[owner].append(i)
        return out

    def join(self, translations: list[str]) -> list[str]:
        """One translation per text from one per sentence, each cased as its sentence was written."""
        done = [c.restore(t) for c, t in zip(self.cases, translations, strict=True)]
        return [" ".join(done[i] for i in group) for group in self.groups()]


def split(texts: list[str], lang: str, max_sentences: int | None = MAX_SENTENCES) -> Sentences:
    """The sentences of `texts` in language `lang`; InputError past `max_sentences` in all (None: no limit)."""
    cases: list[Cased] = []
    owners: list[int] = []
    for i, text in enumerate(texts):
        parts = [s.strip() for s in segment(lang, text)]
        for part in [p for p in parts if p] or [text.strip()]:
            cases.append(normalize(part))
            owners.append(i)
    if max_sentences is not None and len(cases) > max_sentences:
        raise InputError(
            f"the texts hold {len(cases)} sentences; a request may hold at most {max_sentences}: "
            "send the rest in another request"
        )
    return Sentences(cases, owners)


def as_written(texts: list[str]) -> Sentences:
    """Each text read whole and as written: what the translators did before this module (to measure it)."""
    return Sentences([Cased(t, upper=False) for t in texts], list(range(len(texts))))
