"""Case handling for translator input: capitals and title case are read in sentence case, nothing else changes."""

from __future__ import annotations

import gzip

import pytest

from core.preprocessing.casing import Cased, normalize, sentence_case


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("A MAN IS RIDING A BIKE.", "A man is riding a bike."),
        ("TWO DOGS, ONE BALL!", "Two dogs, one ball!"),
        ('"HELLO THERE," SHE SAYS.', '"Hello there," she says.'),
        ("3 DOGS RUN", "3 dogs run"),
        ("ÉCOLE ET ÉGLISE", "École et église"),
    ],
)
def test_capitals_are_read_in_sentence_case_and_answered_in_capitals(text, read_as):
    case = normalize(text)
    assert case == Cased(read_as, upper=True)
    assert case.restore("Ein Mann fährt auf der Straße.") == "EIN MANN FÄHRT AUF DER STRASSE."


def test_title_case_is_read_in_sentence_case_and_answered_as_it_is():
    case = normalize("Two Dogs Are Playing In The Snow Outside.")
    assert case == Cased("Two dogs are playing in the snow outside.", upper=False)
    assert case.restore("Zwei Hunde spielen im Schnee.") == "Zwei Hunde spielen im Schnee."


@pytest.mark.parametrize(
    "text",
    [
        "A man is riding a bike.",
        "The USA team wins a game in New York City.",  # an acronym and a name: not capitals, not a title
        "A woman at the Eiffel Tower.",  # two capitalised long words: names, not a title
        "NASA",  # one capitalised word: an acronym, not a sentence in capitals
        "I",
        "",
        "123 456 !",
        "日本の犬が走る",  # no case at all
    ],
)
def test_sentence_case_names_acronyms_and_caseless_text_are_left_as_they_are(text):
    assert normalize(text) == Cased(text, upper=False)


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("a man is riding a bike", "A man is riding a bike"),
        ("'two dogs' play in New York", "'Two dogs' play in New York"),
        ("iPhone users wait in line.", "iPhone users wait in line."),  # not a lower-case word: left as written
        ("3 dogs run", "3 dogs run"),
    ],
)
def test_a_sentence_typed_in_lower_case_gets_a_capital_at_its_start(text, read_as):
    assert normalize(text) == Cased(read_as, upper=False)


def test_sentence_case_keeps_the_first_letter_wherever_it_is():
    assert sentence_case("«BONJOUR», DIT-IL") == "«Bonjour», dit-il"
    assert sentence_case("...") == "..."


@pytest.mark.parametrize("split", ["train", "val", "test_2016_flickr"])
def test_no_multi30k_source_sentence_is_changed(data_dir, split):
    """The translators were trained and measured on these: the handling must never touch them."""
    with gzip.open(data_dir / "multi30k" / f"{split}.en.gz", "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert len(lines) >= 1000
    assert [t for t in lines if normalize(t).text != t] == []
