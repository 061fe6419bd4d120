"""test2016 in the styles people type it, and a committed translator's BLEU on each with and without the
service's case handling."""

from __future__ import annotations

import pytest
from tests_support import MODELS

from core.model_folders import latest_version
from training.translation.case_styles import STYLES, main, styled
from training.translation.onnx_translator import OnnxTranslator

SOURCE = "A man in a red shirt, standing on a ladder."


def test_each_style_is_what_it_claims_to_be():
    assert styled(SOURCE, "as-written") == SOURCE
    assert styled(SOURCE, "capitals") == "A MAN IN A RED SHIRT, STANDING ON A LADDER."
    assert styled(SOURCE, "title") == "A Man In A Red Shirt, Standing On A Ladder."
    assert styled(SOURCE, "lower") == "a man in a red shirt standing on a ladder"
    assert set(STYLES) == {"as-written", "capitals", "title", "lower"}
    with pytest.raises(ValueError, match="unknown style"):
        styled(SOURCE, "shouting")


def test_without_the_handling_capitals_come_apart_and_with_it_they_do_not():
    folder = latest_version(MODELS / "gru-en-de")
    text = styled(SOURCE, "capitals")
    handled = OnnxTranslator(folder, "en").translate([text], 1, 1.0)[0]
    raw = OnnxTranslator(folder, "en", recase=False).translate([text], 1, 1.0)[0]
    assert handled == OnnxTranslator(folder, "en").translate([SOURCE], 1, 1.0)[0].upper()
    assert handled != raw


def test_a_folder_without_a_manifest_exits_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path)])
    assert e.value.code == 2 and "no manifest.json" in capsys.readouterr().err


def test_the_table_has_a_row_per_style(data_dir, capsys):
    main([str(latest_version(MODELS / "gru-en-fr")), "--count", "4", "--beam-size", "1", "--data-dir", str(data_dir)])
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 2 + len(STYLES) and rows[0].startswith("| source style |")
