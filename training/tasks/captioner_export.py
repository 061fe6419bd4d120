"""Export of the Flickr8k captioner (encoder.onnx + decoder_step.onnx), parity checks, and evaluation.

The test scores are measured the way the server captions: the exported graphs are loaded by the service's
own `CaptionerRuntime`, photos go through its preprocessing (decoded from the JPEG files) and its beam search.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer

from core.manifest import Manifest
from service.runtimes.captioner import CaptionerRuntime
from training.caption_metrics import ConstantCaptionSearch, coco_scores
from training.captioning.grid import write_grid
from training.data import flickr8k
from training.export import (
    assert_parity,
    code_commit,
    cpu_session,
    export_onnx,
    graph_entry,
    reference_pair,
    write_manifest,
)
from training.models.captioner import (
    CaptionDecoder,
    Captioner,
    CaptionerConfig,
    DecoderStepGraph,
    EncoderGraph,
    ImageEncoder,
)
from training.tasks import common
from training.tokenization import words

NAME = "captioner-flickr8k"
ENCODER_BATCHES = (1, 3, 8)
STEP_ROWS = (1, 5, 12)
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


def photos(data_dir: Path, names: list[str], runtime: CaptionerRuntime) -> np.ndarray:
    """(N, 3, crop, crop) through the service's preprocessing, from the JPEG files."""
    root = flickr8k.root(data_dir) / "images"
    out = []
    for n in names:
        with Image.open(root / n) as img:
            out.append(runtime.preprocess(img))
    return np.stack(out)


def greedy_torch(encoder, step: DecoderStepGraph, x: np.ndarray, bos: int, eos: int, limit: int) -> list[list[int]]:
    with torch.no_grad():
        regions, keys, state = EncoderGraph(encoder, step.decoder)(torch.from_numpy(x))
        tokens = torch.full((len(x),), bos, dtype=torch.long)
        rows: list[list[int]] = [[] for _ in x]
        done = [False] * len(x)
        for _ in range(limit):
            logp, state, _ = step(tokens, state, regions, keys)
            tokens = logp.argmax(1)
            for r, t in enumerate(tokens.tolist()):
                if not done[r]:
                    done[r] = t == eos
                    if not done[r]:
                        rows[r].append(t)
        return rows


def caption_all(runtime: CaptionerRuntime, x: np.ndarray, beam: int, alpha: float) -> list[str]:
    runtime.alpha = alpha
    out = []
    for i in range(0, len(x), 100):
        out += [r.best.text for r in runtime.caption(x[i : i + 100], beam)]
    return out


def references(tok, split: flickr8k.Split) -> list[list[str]]:
    return [[" ".join(words(tok, c)) for c in caps] for caps in split.captions]


def export_graphs(
    encoder: ImageEncoder, decoder: CaptionDecoder, banned: list[int], out: Path
) -> tuple[EncoderGraph, DecoderStepGraph]:
    """Write encoder.onnx and decoder_step.onnx (dynamic batch / rows) into `out`; return the torch graphs."""
    config = decoder.c
    enc_graph = EncoderGraph(encoder, decoder).eval()
    step_graph = DecoderStepGraph(decoder, banned).eval()
    s = config.image_size
    enc_outputs = ["regions", "keys", "state"]
    enc_axes = {k: {0: "batch"} for k in ["image", *enc_outputs]}
    export_onnx(enc_graph, (torch.zeros(2, 3, s, s),), out / "encoder.onnx", ["image"], enc_outputs, enc_axes)
    n_regions, d, a, h2 = (s // 16) ** 2, config.channels[-1], config.attn_dim, 2 * config.hidden
    example = (
        torch.zeros(2, dtype=torch.long),
        torch.zeros(2, h2),
        torch.zeros(2, n_regions, d),
        torch.zeros(2, n_regions, a),
    )
    names = ["tokens", "state", "regions", "keys"]
    export_onnx(step_graph, example, out / "decoder_step.onnx", names, ["log_probs", "state_out", "attention"],
                {k: {0: "rows"} for k in [*names, "log_probs", "state_out", "attention"]})  # fmt: skip
    return enc_graph, step_graph


def export(args: argparse.Namespace) -> None:
    run = args.run_dir or common.RUNS_DIR / NAME
    encoder, decoder, config, ckpts = build(run)
    data = json.loads((run / "data.json").read_text())
    sp = data["special"]
    out = common.out_dir(args, NAME)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text((run / "tokenizer.json").read_text())
    enc_graph, step_graph = export_graphs(encoder, decoder, [sp["pad"], sp["bos"], sp["unk"]], out)
    s, h2 = config.image_size, 2 * config.hidden

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
    enc_session, step_session = cpu_session(out / "encoder.onnx"), cpu_session(out / "decoder_step.onnx")
    # A provisional manifest lets the service runtime load the graphs; the reference pair comes from them.
    probe = np.random.default_rng(0).standard_normal((2, 3, s, s)).astype(np.float32)
    manifest["reference"] = reference_pair(enc_session, "encoder", {"image": probe})
    write_manifest(out, manifest)
    runtime = CaptionerRuntime(Manifest.model_validate(manifest), out, "cpu")
    test_names = splits["test"].names[: args.eval_limit] if args.eval_limit else splits["test"].names
    x_all = photos(data_dir, test_names, runtime)
    probe_x = photos(data_dir, splits["test"].names[:GREEDY_IMAGES], runtime)
    diffs = {f"encoder@{b}": assert_parity(enc_graph, enc_session, {"image": probe_x[:b]}, atol=1e-3)
             for b in ENCODER_BATCHES}  # fmt: skip
    rng = np.random.default_rng(1)
    enc_out = runtime.encode(probe_x[: max(STEP_ROWS)])
    for n in STEP_ROWS:
        feeds = {
            "tokens": rng.integers(4, config.vocab, n).astype(np.int64),
            "state": (rng.standard_normal((n, h2)) * 0.5).astype(np.float32),
            "regions": enc_out["regions"][:n],
            "keys": enc_out["keys"][:n],
        }
        diffs[f"decoder_step@{n}"] = assert_parity(step_graph, step_session, feeds, atol=1e-3)
    print(f"parity max abs diff: {diffs}")
    greedy_t = greedy_torch(encoder, step_graph, probe_x, sp["bos"], sp["eos"], 20)
    greedy_o = [r.best.words for r in runtime.caption(probe_x, 1)]
    greedy_o_ids = [[tok.token_to_id(w) for w in ws] for ws in greedy_o]
    if greedy_t != greedy_o_ids:
        raise AssertionError(f"greedy decode differs between PyTorch and onnxruntime: {greedy_t} vs {greedy_o_ids}")
    print(f"greedy decode of {GREEDY_IMAGES} test photos identical in PyTorch and onnxruntime")

    dev = splits["dev"]
    dev = flickr8k.Split(dev.names[: args.eval_limit], dev.captions[: args.eval_limit]) if args.eval_limit else dev
    dev_x = photos(data_dir, dev.names, runtime)
    dev_refs = references(tok, dev)
    dev_bleu = {a: coco_scores(caption_all(runtime, dev_x, args.beam_size, a), dev_refs)["bleu4"] for a in ALPHAS}
    alpha = max(ALPHAS, key=lambda a: dev_bleu[a])
    print(f"dev BLEU-4 by length-normalisation alpha (beam {args.beam_size}): {dev_bleu}; chosen {alpha}")
    manifest["decoding"]["alpha"] = alpha

    test = flickr8k.Split(test_names, splits["test"].captions[: len(test_names)])
    test_refs = references(tok, test)
    beam_texts = caption_all(runtime, x_all, args.beam_size, alpha)
    beam = coco_scores(beam_texts, test_refs)
    greedy = coco_scores(caption_all(runtime, x_all, 1, alpha), test_refs)
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
    manifest["reference"] = reference_pair(enc_session, "encoder", {"image": probe_x[:2]})
    write_manifest(out, manifest)
    root = flickr8k.root(data_dir) / "images"
    write_grid(out / "examples.png", [root / n for n in test_names[:8]], beam_texts[:8])
    print(f"wrote {out}")


def evaluate(args: argparse.Namespace) -> None:
    folder = common.out_dir(args, NAME)
    manifest = Manifest.model_validate_json((folder / "manifest.json").read_text())
    runtime = CaptionerRuntime(manifest, folder, "cpu")
    data_dir = common.data_dir(args)
    captions = flickr8k.load_captions(data_dir)
    test = flickr8k.load_split(data_dir, "test", captions)
    names = test.names[: args.eval_limit] if args.eval_limit else test.names
    tok = runtime.tokenizer
    refs = [[" ".join(words(tok, c)) for c in caps] for caps in test.captions[: len(names)]]
    scores = coco_scores(caption_all(runtime, photos(data_dir, names, runtime), args.beam_size, runtime.alpha), refs)
    print(json.dumps({"model": NAME, "test_images": len(names), "beam_size": args.beam_size, **scores}))
