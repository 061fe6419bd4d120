"""Corpus scores of translations: the tokenised, lower-cased BLEU of the Multi30k literature next to sacreBLEU."""

from __future__ import annotations

from sacrebleu.metrics import BLEU

from training.translation.onnx_translator import tokenized_bleu


def test_tokenised_bleu_ignores_case_and_splits_punctuation_as_moses_does():
    refs = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Park."]
    hyps = ["ein mann fährt fahrrad .", "zwei hunde spielen im park ."]
    assert tokenized_bleu(hyps, refs, "de") == 100.0
    assert BLEU().corpus_score(hyps, [refs]).score < 100  # sacreBLEU is cased


def test_tokenised_bleu_splits_french_elisions_alike_and_still_counts_errors():
    refs = ["L'homme regarde l'eau.", "Un chien court dans l'herbe."]
    assert tokenized_bleu(["l'homme regarde l'eau .", "un chien court dans l'herbe ."], refs, "fr") == 100.0
    wrong = tokenized_bleu(["L'homme regarde le ciel.", "Un chat dort sur l'herbe."], refs, "fr")
    assert 0 < wrong < 60
