"""test2016 in the styles people type it, and a committed translator's BLEU on each with and without the
service's input handling."""

from __future__ import annotations

import pytest
from tests_support import MODELS

from core.model_folders import latest_version
from training.translation.input_styles import STYLES, main, references, styled
from training.translation.onnx_translator import OnnxTranslator

SOURCES = ["A man in a red shirt, standing on a ladder.", "Two dogs run.", "A cat.", "A bird sings.", "Rain."]


def test_each_style_is_what_it_claims_to_be():
    first = SOURCES[:1]
    assert styled(first, "as-written") == first
    assert styled(first, "capitals") == ["A MAN IN A RED SHIRT, STANDING ON A LADDER."]
    assert styled(first, "title") == ["A Man In A Red Shirt, Standing On A Ladder."]
    assert styled(first, "lower") == ["a man in a red shirt standing on a ladder"]
    assert styled(SOURCES, "paragraphs") == [" ".join(SOURCES[:4]), "Rain."]
    assert references(SOURCES, "paragraphs") == styled(SOURCES, "paragraphs")
    assert references(first, "capitals") == styled(first, "capitals") and references(first, "title") == first
    assert set(STYLES) == {"as-written", "capitals", "title", "lower", "paragraphs"}
    with pytest.raises(ValueError, match="unknown style"):
        styled(first, "shouting")


def test_read_whole_capitals_come_apart_and_paragraphs_lose_sentences_and_handled_they_do_not():
    folder = latest_version(MODELS / "gru-en-de")
    handled, whole = OnnxTranslator(folder, "en"), OnnxTranslator(folder, "en", prepare=False)
    plain = handled.translate(SOURCES[:2], 1, 1.0)
    caps = styled(SOURCES[:1], "capitals")
    assert handled.translate(caps, 1, 1.0) == [plain[0].upper()] != whole.translate(caps, 1, 1.0)
    paragraph = " ".join(SOURCES[:2])
    assert handled.translate([paragraph], 1, 1.0) == [" ".join(plain)]


def test_a_folder_without_a_manifest_exits_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path)])
    assert e.value.code == 2 and "no manifest.json" in capsys.readouterr().err


def test_the_table_has_a_row_per_style(data_dir, capsys):
    main([str(latest_version(MODELS / "gru-en-fr")), "--count", "8", "--beam-size", "1", "--data-dir", str(data_dir)])
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 2 + len(STYLES) and rows[0].startswith("| source style |")
