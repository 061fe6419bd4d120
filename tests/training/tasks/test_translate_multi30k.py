"""`gru-en-de` end to end on a tiny model: a dry run trains (and fine-tunes from it), export writes a folder the
service loads, evaluate measures it as export did; the language pair comes from the model name."""

from __future__ import annotations

import json

import pytest

from training.cli import TASKS, run

NAME = "gru-en-de"
TINY = ["--embed-dim", "16", "--enc-hidden", "16", "--dec-hidden", "16", "--src-vocab", "300", "--tgt-vocab", "300",
        "--batch-size", "32", "--max-steps", "3", "--dry-run", "--no-progress"]  # fmt: skip


def test_each_language_pair_is_its_own_model():
    assert TASKS["gru-en-fr"].task == TASKS["gru-en-de"].task == "translate"
    assert TASKS["gru-en-fr"] is not TASKS["gru-en-de"] and issubclass(TASKS["gru-en-de"], TASKS["gru-en-fr"].__base__)


@pytest.mark.parametrize("value", ["1", "-0.1", "often"])
def test_bpe_dropout_outside_0_to_1_is_refused(tmp_path, data_dir, capsys, value):
    with pytest.raises(SystemExit) as exc:
        run("train", NAME, [*TINY, "--run-dir", str(tmp_path / "run"), "--data-dir", str(data_dir),
                            "--bpe-dropout", value])  # fmt: skip
    assert exc.value.code == 2 and "expected a number in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_dry_run_fine_tune_export_serve_and_evaluate(tmp_path, data_dir, serve_and_evaluate, quantize_and_serve):
    first, second, out = tmp_path / "first", tmp_path / "second", tmp_path / "models" / NAME / "1"
    run("train", NAME, [*TINY, "--run-dir", str(first), "--data-dir", str(data_dir), "--bpe-dropout", "0.1"])
    run("train", NAME, [*TINY, "--run-dir", str(second), "--data-dir", str(data_dir), "--init-from",
                        str(first / "checkpoint.pt")])  # fmt: skip
    assert (second / "src_tokenizer.json").read_bytes() == (first / "src_tokenizer.json").read_bytes()
    record = json.loads((second / "train_args.json").read_text())
    assert record["initialised_from"]["checkpoint"] == str(first / "checkpoint.pt")
    assert json.loads((first / "train_args.json").read_text())["bpe_dropout"] == 0.1 and record["bpe_dropout"] == 0
    assert (record["bpe_vocab"], record["grad_clip"], record["label_smoothing"]) == ([300, 300], 1.0, 0.1)
    run("export", NAME, ["--checkpoint", str(second / "checkpoint.pt"), "--out", str(out), "--data-dir",
                         str(data_dir), "--eval-limit", "6", "--beam-size", "2", "--alpha-grid", "0.5,1.0",
                         "--average-last", "1"])  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    assert (m["name"], m["task"], sorted(m["graphs"])) == (NAME, "translate", ["decoder_step", "encoder"])
    assert m["description"] == "GRU encoder-decoder (bahdanau attention), en to de, Multi30k"
    assert m["languages"] == {"source": "en", "target": "de"} and m["decoding"]["beam_size"] == 2
    assert m["metrics"]["test_sentences"] == 6 and len((out / "test2016.hyp.txt").read_text().splitlines()) == 6
    decoding = m["decoding"]  # alpha chosen by validation BLEU, the grid's scores kept
    assert decoding["alpha_chosen_on"] == "val" and set(decoding["val_bleu_by_alpha"]) == {"0.5", "1.0"}
    assert decoding["alpha"] == max((0.5, 1.0), key=lambda x: decoding["val_bleu_by_alpha"][str(x)])
    assert 0 <= m["metrics"]["test2016_bleu_tokenized"] <= 100 and "Moses" in m["bleu_tokenized_method"]
    assert set(m["dataset"]["files"]) >= {"train.en.gz", "train.de.gz", "test_2016_flickr.de.gz"}
    assert m["training"]["steps"] == 3 and m["reference"]["graph"] == "encoder"
    scores = serve_and_evaluate(out, "--eval-limit", "6", "--beam-size", "2")
    assert (scores["model"], scores["test_sentences"], scores["beam_size"]) == (NAME, 6, 2)
    assert scores["bleu"] == m["metrics"]["test2016_bleu"] and scores["signature"] == m["bleu_signature"]
    assert scores["alpha"] == decoding["alpha"]  # evaluate decodes as the manifest says
    assert scores["bleu_tokenized"] == m["metrics"]["test2016_bleu_tokenized"]
    q = quantize_and_serve(out, "--eval-limit", "6", "--beam-size", "2")  # int8 and float on the same sentences
    assert q["quantization"]["graphs"]["decoder_step"]["integer_ops"]["MatMulInteger"] >= 4
    assert q["quantization"]["scores"]["float"]["bleu"] == m["metrics"]["test2016_bleu"]
    assert q["metrics"]["test2016_bleu"] == q["quantization"]["scores"]["int8"]["bleu"]
    assert q["decoding"] == decoding and not (out.parent / "2" / "test2016.hyp.txt").exists()
    assert (out.parent / "2" / "src_tokenizer.json").read_bytes() == (out / "src_tokenizer.json").read_bytes()
