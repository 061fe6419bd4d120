"""Sentence case for translator input, and the input's case put back on the output.

The translators learned from Multi30k, whose sentences are all sentence case: not one of its 29,000 training
sources is written in capitals or in title case. A cased subword vocabulary has almost no pieces for "RIDING"
or "Playing In The Snow", so such input comes apart into letters the model has never seen together, and it
answers with repeated letters. Marian NMT teaches the model these forms in training (`--all-caps-every`,
`--english-title-case-every`); a model already trained can be met half way, as here: such a sentence is read
in sentence case, and an all-capitals sentence gets its translation back in capitals. Every Multi30k sentence
also starts with a capital: one typed in lower case reads much better with a capital at its start. A sentence
with a few capitalised words (names, acronyms) is left as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W\d_]+")  # a run of letters, any script
_FIRST_WORD = re.compile(r"[^\W_]+")  # the first run of letters and digits
TITLE_MIN_LONG_WORDS = 3  # title case only when this many words of 4+ letters after the first are capitalised


@dataclass(frozen=True)
class Cased:
    text: str  # what the model reads
    upper: bool  # the input was in capitals: so is the output

    def restore(self, translation: str) -> str:
        return translation.upper() if self.upper else translation


def sentence_case(text: str) -> str:
    """Every letter lower-case but the sentence's first, when it starts with a word (not a number)."""
    lowered = text.lower()
    first = _FIRST_WORD.search(lowered)
    if first is None or not first.group()[0].isalpha():
        return lowered
    i = first.start()
    return lowered[:i] + lowered[i].upper() + lowered[i + 1 :]


def normalize(text: str) -> Cased:
    """Capitals (two or more cased words, none with a lower-case letter) and title case (every word of four or
    more letters after the first capitalised, at least `TITLE_MIN_LONG_WORDS` of them) become sentence case; a
    sentence that starts with a lower-case letter gets a capital there, and keeps the rest as written."""
    words = [w for w in _WORD.findall(text) if w.lower() != w.upper()]  # scripts without case never match
    if len(words) >= 2 and all(w.isupper() for w in words):
        return Cased(sentence_case(text), upper=True)
    long = [w for w in words[1:] if len(w) >= 4]
    if len(long) >= TITLE_MIN_LONG_WORDS and all(w[0].isupper() for w in long):
        return Cased(sentence_case(text), upper=False)
    first = _FIRST_WORD.search(text)
    if first is not None and first.group().islower():  # typed in lower case: its first letter made a capital
        i = first.start()
        return Cased(text[:i] + text[i].upper() + text[i + 1 :], upper=False)
    return Cased(text, upper=False)
