"""`captioner-flickr8k` export and evaluate on a tiny random model's stage checkpoints: real Flickr8k photos go
through the manifest's recipe and the exported graphs, and the service loads the folder export writes."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from training.cli import run
from training.tokenization import train_words

NAME = "captioner-flickr8k"
# 36 words: ids 4..39 after the 4 specials, the tiny captioner's vocabulary
WORDS = [f"{w}{i}" for w in ("dog", "man", "girl", "runs", "water", "red") for i in range(6)]


def fake_run(folder, tiny_captioner) -> None:
    """The files `dlserve train captioner-flickr8k` leaves: stage checkpoints, tokenizer, data statistics."""
    encoder, decoder = tiny_captioner()
    tok = train_words([" ".join(WORDS)] * 2, 1)
    assert tok.get_vocab_size() == decoder.c.vocab
    for stage, module in (("encoder", encoder), ("decoder", decoder)):
        (folder / stage).mkdir(parents=True)
        history = {"epochs": [{"epoch": 1, "train_loss": 1.5, "seconds": 2.0}], "steps": 4, "train_seconds": 2.0}
        ckpt = {"state_dict": module.state_dict(), "config": asdict(decoder.c), "history": history}
        torch.save(ckpt, folder / stage / "checkpoint.pt")
    tok.save(str(folder / "tokenizer.json"))
    special = {"pad": 0, "bos": 1, "eos": 2, "unk": 3}
    (folder / "data.json").write_text(json.dumps({"mean": [0.45] * 3, "std": [0.27] * 3, "concepts": WORDS,
                                                  "special": special}))  # fmt: skip


def test_export_serve_and_evaluate(tmp_path, data_dir, tiny_captioner, serve_and_evaluate, quantize_and_serve):
    runs, out = tmp_path / "run", tmp_path / "models" / NAME / "1"
    fake_run(runs, tiny_captioner)
    run("export", NAME, ["--run-dir", str(runs), "--out", str(out), "--data-dir", str(data_dir), "--eval-limit", "4",
                         "--beam-size", "2"])  # fmt: skip
    m = json.loads((out / "manifest.json").read_text())
    assert (m["name"], m["task"], sorted(m["graphs"])) == (NAME, "caption", ["decoder_step", "encoder"])
    assert m["preprocessing"]["crop"] == 32 and m["preprocessing"]["mean"] == [0.45] * 3
    assert m["decoding"]["beam_size"] == 2 and m["decoding"]["alpha"] in (0.0, 0.5, 1.0)
    assert m["metrics"]["test_images"] == 4 and len(m["evaluation"]["examples"]) == 4
    assert m["parity"]["greedy_identical_images"] == 16 and m["parity"]["max_abs_diff"] <= 1e-3
    assert m["batching"] == {"max_batch_size": 32, "max_delay_ms": 2} and m["reference"]["graph"] == "encoder"
    assert sorted(m["training"]["stages"]) == ["decoder", "encoder"] and m["training"]["seconds"] == 4.0
    assert m["training"]["vocabulary"]["words"] == len(WORDS) + 4
    assert (out / "examples.png").is_file() and (out / "tokenizer.json").is_file()
    scores = serve_and_evaluate(out, "--eval-limit", "4", "--beam-size", "2")
    assert (scores["model"], scores["test_images"], scores["beam_size"]) == (NAME, 4, 2)
    assert scores["bleu4"] == m["metrics"]["test_bleu4"] and scores["cider"] == m["metrics"]["test_cider"]
    q = quantize_and_serve(out, "--eval-limit", "4", "--beam-size", "2")  # int8 and float on the same photos
    assert q["quantization"]["scores"]["float"]["bleu4"] == m["metrics"]["test_bleu4"]
    assert set(q["metrics"]) == {"test_images", "test_bleu1", "test_bleu4", "test_cider"}
    assert q["quantization"]["summary"]["speed"]["unit"] == "photos/s (16 test photos at a time, beam 2)"
    assert (out.parent / "2" / "tokenizer.json").is_file() and not (out.parent / "2" / "examples.png").exists()


def test_stage_four_supersedes_the_decoder_and_joins_the_record(tmp_path, data_dir, tiny_captioner):
    from training.tasks.captioner_flickr8k import CaptionerFlickr8k

    runs = tmp_path / "run"
    fake_run(runs, tiny_captioner)
    _, decoder = tiny_captioner()
    with torch.no_grad():
        decoder.out.weight.add_(1.0)  # weights no other stage has
    (runs / "scst").mkdir()
    history = {"epochs": [{"epoch": 1, "train_reward": 0.3, "seconds": 5.0}], "steps": 9, "train_seconds": 5.0}
    torch.save({"state_dict": decoder.state_dict(), "config": asdict(decoder.c), "history": history},
               runs / "scst" / "checkpoint.pt")  # fmt: skip
    task = CaptionerFlickr8k(CaptionerFlickr8k.parser("export").parse_args(["--run-dir", str(runs),
                                                                            "--data-dir", str(data_dir)]))  # fmt: skip
    assert torch.equal(task.load().decoder.out.weight, decoder.out.weight)
    record = task.training_record()
    assert sorted(record["stages"]) == ["decoder", "encoder", "scst"] and record["seconds"] == 9.0
    assert record["stages"]["scst"]["epochs"] == 1


def test_dry_run_trains_all_four_stages(tmp_path, data_dir):
    runs = tmp_path / "run"
    run("train", NAME, ["--dry-run", "--finetune-epochs", "1", "--scst-epochs", "1", "--views", "1", "--run-dir",
                        str(runs), "--data-dir", str(data_dir), "--no-progress"])  # fmt: skip
    for stage in ("encoder", "decoder", "finetune", "scst"):
        history = json.loads((runs / stage / "history.json").read_text())
        assert history["steps"] > 0 and len(history["epochs"]) == 1, stage
    scst = json.loads((runs / "scst" / "history.json").read_text())["epochs"][0]
    assert scst["train_reward"] >= 0 and "dev_greedy_cider" in scst


def test_init_from_goes_with_stage_four_only(tmp_path, data_dir):
    with pytest.raises(SystemExit, match="use it with --stage scst"):
        run("train", NAME, ["--init-from", str(tmp_path), "--run-dir", str(tmp_path / "run"), "--data-dir",
                            str(data_dir)])  # fmt: skip
    assert not (tmp_path / "run").exists()
