"""A translator's input texts as sentences, and the translations joined back per text."""

from __future__ import annotations

import gzip

import pytest

from core.errors import InputError
from core.preprocessing.casing import Cased
from core.preprocessing.sentences import MAX_SENTENCES, as_written, split


def test_a_paragraph_becomes_its_sentences_and_their_translations_one_text_again():
    s = split(["A man rides a bike. Two dogs play in the snow! Is it cold?", "A dog runs."], "en")
    assert s.texts == ["A man rides a bike.", "Two dogs play in the snow!", "Is it cold?", "A dog runs."]
    assert s.owners == [0, 0, 0, 1] and s.groups() == [[0, 1, 2], [3]]
    assert s.join(["Ein Mann.", "Zwei Hunde!", "Kalt?", "Ein Hund."]) == ["Ein Mann. Zwei Hunde! Kalt?", "Ein Hund."]


def test_abbreviations_and_decimals_do_not_end_a_sentence():
    assert split(["Mr. Smith walks at 5 p.m. in St. Louis with 2.5 dogs."], "en").texts == [
        "Mr. Smith walks at 5 p.m. in St. Louis with 2.5 dogs."
    ]


def test_each_sentence_is_cased_on_its_own():
    s = split(["A MAN RIDES A BIKE. A dog runs in the park."], "en")
    assert s.cases == [Cased("A man rides a bike.", upper=True), Cased("A dog runs in the park.", upper=False)]
    assert s.join(["Ein Mann fährt Rad.", "Ein Hund rennt."]) == ["EIN MANN FÄHRT RAD. Ein Hund rennt."]


def test_as_written_reads_each_text_whole():
    s = as_written(["A MAN RIDES A BIKE. A dog runs.", "A cat."])
    assert s.cases == [Cased("A MAN RIDES A BIKE. A dog runs.", upper=False), Cased("A cat.", upper=False)]
    assert s.groups() == [[0], [1]] and s.join(["X.", "Y."]) == ["X.", "Y."]


def test_a_text_without_a_sentence_end_is_one_sentence():
    assert split(["  A man rides a bike  "], "en").texts == ["A man rides a bike"]


def test_more_sentences_than_a_request_may_hold_is_refused_with_the_count():
    texts = ["A dog runs. A cat sleeps."] * (MAX_SENTENCES // 2) + ["A bird sings."]
    with pytest.raises(InputError, match=f"hold {MAX_SENTENCES + 1} sentences; a request may hold at most 64"):
        split(texts, "en")
    assert len(split(texts, "en", max_sentences=None).texts) == MAX_SENTENCES + 1


@pytest.mark.parametrize("split_name", ["val", "test_2016_flickr"])
def test_no_multi30k_validation_or_test_sentence_is_split(data_dir, split_name):
    """The translators are measured on these, one sentence per line: splitting must not change a figure."""
    with gzip.open(data_dir / "multi30k" / f"{split_name}.en.gz", "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert len(split(lines, "en", max_sentences=None).texts) == len(lines) >= 1000
