"""The translator runtime on the committed models: batching and padding never change a translation."""

from __future__ import annotations

import numpy as np
import pytest

from service.repository import ModelRepository, Status
from service.runtimes.translator import TranslatorRuntime
from service.settings import Settings

SENTENCES = [
    "A man is riding a bike.",
    "Two young children are playing with a ball on the green grass in front of a large white house.",
    "A dog runs.",
]


@pytest.fixture(scope="module", params=["gru-en-fr", "gru-en-de"])
def runtime(request, models_dir) -> TranslatorRuntime:
    repo = ModelRepository(Settings(model_dir=models_dir))
    repo.discover()
    entry = repo.get(request.param)
    repo.load(entry)
    assert entry.status == Status.ready, entry.reason
    return entry.runtime


@pytest.mark.parametrize("beam", [1, 5])
def test_sentence_alone_equals_sentence_in_a_padded_batch(runtime, beam):
    batch = runtime.translate(SENTENCES, beam)
    for sentence, together in zip(SENTENCES, batch, strict=True):
        alone = runtime.translate([sentence], beam)[0]
        assert alone.text == together.text
        assert alone.score == pytest.approx(together.score, abs=1e-4)


def test_attention_matrix_shape_and_rows(runtime):
    t = runtime.translate([SENTENCES[1]], 5, return_attention=True)[0]
    assert t.attention.shape == (len(t.target_tokens), len(t.source_tokens))
    np.testing.assert_allclose(t.attention.sum(axis=1), 1.0, atol=1e-4)  # each target row is a distribution
    assert t.text and t.score < 0


def test_max_length_is_respected(runtime):
    t = runtime.translate([SENTENCES[1]], 3, max_length=4)[0]
    assert len(t.target_tokens) <= 4


def test_capitals_and_title_case_translate_as_the_sentence_does(runtime):
    """Multi30k has no sentence in capitals or title case: the runtime reads them in sentence case
    (core.preprocessing.casing) and answers capitals in capitals."""
    plain = runtime.translate([SENTENCES[0]], 5)[0]
    upper, title = runtime.translate([SENTENCES[0].upper(), "A Man Is Riding A Bicycle Down The Street."], 5)
    assert upper.text == plain.text.upper()
    assert upper.source_tokens == plain.source_tokens  # what the model read
    assert title.text[0].isupper() and not title.text.isupper()
    assert max(map(len, title.text.split())) < 20  # words, not a run of repeated letters


def test_a_paragraph_is_translated_sentence_by_sentence(runtime):
    """A model trained on single sentences drops most of a paragraph read whole: each sentence is a row."""
    alone = runtime.translate(SENTENCES, 5, return_attention=True)
    whole = runtime.translate([" ".join(SENTENCES)], 5, return_attention=True)[0]
    assert whole.text == " ".join(t.text for t in alone)
    assert whole.target_tokens == [tok for t in alone for tok in t.target_tokens]
    assert whole.source_tokens == [tok for t in alone for tok in t.source_tokens]
    rows, cols = (sum(t.attention.shape[i] for t in alone) for i in (0, 1))
    assert whole.attention.shape == (rows, cols)
    np.testing.assert_allclose(whole.attention[: alone[0].attention.shape[0], : alone[0].attention.shape[1]],
                               alone[0].attention)  # fmt: skip
    np.testing.assert_allclose(whole.attention.sum(axis=1), 1.0, atol=1e-4)  # block-diagonal: each row in its sentence
    assert min(t.score for t in alone) <= whole.score <= max(t.score for t in alone)
