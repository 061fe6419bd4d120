"""Export of the Flickr8k captioner (encoder.onnx + decoder_step.onnx), parity checks, and evaluation.

The test scores are measured the way the server captions: photos decoded from the JPEG files go through the
manifest's recipe, then beam search over the exported graphs (training/captioning/onnx_captioner.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from core.manifest import Photo
from training.caption_metrics import ConstantCaptionSearch, coco_scores
from training.captioning.export import check_greedy, check_parity, export_graphs
from training.captioning.grid import write_grid
from training.captioning.onnx_captioner import OnnxCaptioner, photos
from training.data import flickr8k
from training.export import code_commit, graph_entry, reference_pair, write_manifest
from training.models.captioner import CaptionDecoder, Captioner, CaptionerConfig, ImageEncoder
from training.tasks import common
from training.tokenization import words

NAME = "captioner-flickr8k"
GREEDY_IMAGES = 16
ALPHAS = (0.0, 0.5, 1.0)  # length normalisation exponents tried on the dev split


def add_arguments(export: argparse.ArgumentParser, evaluate: argparse.ArgumentParser) -> None:
    for p in (export, evaluate):
        common.add_export_args(p, NAME)
        p.add_argument("--beam-size", type=int, default=3)
    export.add_argument("--run-dir", type=Path, default=None, help=f"training run folder (default: runs/{NAME})")


def build(run: Path) -> tuple[ImageEncoder, CaptionDecoder, CaptionerConfig, dict[str, Any]]:
    enc = torch.load(run / "encoder" / "checkpoint.pt", weights_only=False)
    dec = torch.load(run / "decoder" / "checkpoint.pt", weights_only=False)
    cfg = dict(dec["config"])
    cfg["channels"] = tuple(cfg["channels"])
    config = CaptionerConfig(**cfg)
    encoder, decoder = ImageEncoder(config), CaptionDecoder(config)
    encoder.load_state_dict(enc["state_dict"])
    decoder.load_state_dict(dec["state_dict"])
    ckpts = {"encoder": enc, "decoder": dec}
    if (run / "finetune" / "checkpoint.pt").exists():  # stage 3 supersedes both
        ckpts["finetune"] = torch.load(run / "finetune" / "checkpoint.pt", weights_only=False)
        model = Captioner(config)
        model.load_state_dict(ckpts["finetune"]["state_dict"])
        encoder, decoder = model.encoder, model.decoder
    return encoder.eval(), decoder.eval(), config, ckpts


def test_photos(data_dir: Path, names: list[str], recipe: dict[str, Any]) -> np.ndarray:
    """(N, 3, crop, crop) by the manifest's recipe, from the JPEG files."""
    root = flickr8k.root(data_dir) / "images"
    return photos(Photo(**recipe), [root / n for n in names])


def references(tok, split: flickr8k.Split) -> list[list[str]]:
    return [[" ".join(words(tok, c)) for c in caps] for caps in split.captions]


def export(args: argparse.Namespace) -> None:
    run = args.run_dir or common.RUNS_DIR / NAME
    encoder, decoder, config, ckpts = build(run)
    data = json.loads((run / "data.json").read_text())
    sp = data["special"]
    out = common.out_dir(args, NAME)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text((run / "tokenizer.json").read_text())
    enc_graph, step_graph = export_graphs(encoder, decoder, [sp["pad"], sp["bos"], sp["unk"]], out)
    s = config.image_size

    data_dir = common.data_dir(args)
    captions = flickr8k.load_captions(data_dir)
    splits = {k: flickr8k.load_split(data_dir, k, captions) for k in ("train", "dev", "test")}
    tok = Tokenizer.from_file(str(run / "tokenizer.json"))
    manifest: dict[str, Any] = {
        "name": NAME,
        "version": int(out.name) if out.name.isdigit() else 1,
        "task": "caption",
        "description": "CNN+LSTM image captioner (Show, Attend and Tell) trained from scratch on Flickr8k",
        "graphs": {
            "encoder": graph_entry(out / "encoder.onnx"),
            "decoder_step": graph_entry(out / "decoder_step.onnx"),
        },
        "preprocessing": {"kind": "photo", "resize": 128, "crop": s, "mean": data["mean"], "std": data["std"],
                          "steps": "RGB (alpha onto white), bicubic squash to 128x128, centre crop, (x/255-mean)/std"},
        "tokenizer": "tokenizer.json",
        "special_tokens": {"pad": sp["pad"], "bos": sp["bos"], "eos": sp["eos"]},
        "decoding": {"beam_size": args.beam_size, "alpha": 1.0, "max_length": 20},
        "batching": {"max_batch_size": 32, "max_delay_ms": 2},
    }  # fmt: skip
    captioner = OnnxCaptioner(out, manifest)
    recipe = manifest["preprocessing"]
    test_names = splits["test"].names[: args.eval_limit] if args.eval_limit else splits["test"].names
    x_all = test_photos(data_dir, test_names, recipe)
    probe_x = test_photos(data_dir, splits["test"].names[:GREEDY_IMAGES], recipe)
    diffs = check_parity(enc_graph, step_graph, captioner, probe_x)
    print(f"parity max abs diff: {diffs}")
    check_greedy(encoder, step_graph, captioner, probe_x)
    print(f"greedy decode of {GREEDY_IMAGES} test photos identical in PyTorch and onnxruntime")

    dev = splits["dev"]
    dev = flickr8k.Split(dev.names[: args.eval_limit], dev.captions[: args.eval_limit]) if args.eval_limit else dev
    dev_x = test_photos(data_dir, dev.names, recipe)
    dev_refs = references(tok, dev)
    dev_bleu = {a: coco_scores(captioner.captions(dev_x, args.beam_size, a), dev_refs)["bleu4"] for a in ALPHAS}
    alpha = max(ALPHAS, key=lambda a: dev_bleu[a])
    print(f"dev BLEU-4 by length-normalisation alpha (beam {args.beam_size}): {dev_bleu}; chosen {alpha}")
    manifest["decoding"]["alpha"] = alpha

    test = flickr8k.Split(test_names, splits["test"].captions[: len(test_names)])
    test_refs = references(tok, test)
    beam_texts = captioner.captions(x_all, args.beam_size, alpha)
    beam = coco_scores(beam_texts, test_refs)
    greedy = coco_scores(captioner.captions(x_all, 1, alpha), test_refs)
    train_refs = [[words(tok, c) for c in caps] for caps in splits["train"].captions]
    constant, train_bleu4 = ConstantCaptionSearch(train_refs).best([w for refs in train_refs for w in refs])
    baseline = coco_scores([" ".join(constant)] * len(test_refs), test_refs)
    print(f"test beam {args.beam_size}: {beam}\ntest greedy: {greedy}\nconstant {' '.join(constant)!r}: {baseline}")
    manifest["metrics"] = {
        **{f"test_{k}": v for k, v in beam.items()},
        **{f"test_greedy_{k}": v for k, v in greedy.items()},
        **{f"baseline_{k}": v for k, v in baseline.items()},
        "bleu4_over_baseline": round(beam["bleu4"] / baseline["bleu4"], 3),
        "test_images": len(test_names),
        "dev_bleu4_beam": dev_bleu[alpha],
    }
    manifest["evaluation"] = {
        "references": "all 5 captions per image, normalised as the vocabulary (lowercase, punctuation dropped)",
        "scorer": "pycocoevalcap Bleu(4) and Cider (coco-caption), scores x100",
        "decoding": f"beam {args.beam_size}, alpha {alpha} chosen on dev from {list(ALPHAS)}; greedy for comparison",
        "baseline_caption": " ".join(constant),
        "baseline_rule": f"the training caption with the best corpus BLEU-4 on the training split ({train_bleu4:.4f})",
        "examples": [{"image": n, "caption": c} for n, c in zip(test_names[:12], beam_texts[:12], strict=False)],
    }
    manifest["parity"] = {
        "max_abs_diff": max(diffs.values()),
        "checks": diffs,
        "greedy_identical_images": GREEDY_IMAGES,
    }
    manifest["dataset"] = {"name": "Flickr8k", "files": flickr8k.checksums(data_dir)}
    what = {
        "encoder": "CNN pretrained on word occurrence (multi-label), augmented photos",
        "decoder": "LSTM decoder on cached features of the frozen CNN (4 augmented views per photo)",
        "finetune": "CNN and decoder together on augmented photos, one random caption per photo",
    }
    stages = {k: common.training_record(ckpts[k], {"stage": what[k]}) for k in what if k in ckpts}
    manifest["training"] = {
        "model_config": ckpts["decoder"]["config"],
        "seconds": round(sum(r["seconds"] for r in stages.values()), 1),
        "machine": stages["encoder"]["machine"],
        "stages": stages,
        "vocabulary": {"words": tok.get_vocab_size(), "min_count": 5, "from": "training split captions"},
    }
    manifest["code_commit"] = code_commit()
    manifest["reference"] = reference_pair(captioner.encoder, "encoder", {"image": probe_x[:2]})
    write_manifest(out, manifest)
    root = flickr8k.root(data_dir) / "images"
    write_grid(out / "examples.png", [root / n for n in test_names[:8]], beam_texts[:8])
    print(f"wrote {out}")


def evaluate(args: argparse.Namespace) -> None:
    folder = common.out_dir(args, NAME)
    manifest = json.loads((folder / "manifest.json").read_text())
    captioner = OnnxCaptioner(folder, manifest)
    data_dir = common.data_dir(args)
    captions = flickr8k.load_captions(data_dir)
    test = flickr8k.load_split(data_dir, "test", captions)
    names = test.names[: args.eval_limit] if args.eval_limit else test.names
    refs = [[" ".join(words(captioner.tokenizer, c)) for c in caps] for caps in test.captions[: len(names)]]
    x = test_photos(data_dir, names, manifest["preprocessing"])
    scores = coco_scores(captioner.captions(x, args.beam_size), refs)
    print(json.dumps({"model": NAME, "test_images": len(names), "beam_size": args.beam_size, **scores}))
