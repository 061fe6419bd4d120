"""Image captioner on Flickr8k: train (encoder pretraining, then the decoder), export, evaluate.

Training runs in stages, each checkpointed every epoch in runs/<model>/<stage>/ and resumable
(training/captioning/stages.py):
1. `encoder`: the CNN learns which caption words occur in a photo (multi-label, soft targets = the share of
   the five captions that use the word), with random crops, flips and colour jitter.
2. `decoder`: the CNN is frozen; its region features for several augmented views of every training photo are
   computed once, and the LSTM decoder learns on them with teacher forcing (cross-entropy plus Xu et al.'s
   doubly stochastic attention penalty). Each epoch ends with a greedy-decoding BLEU-4 on the dev split.
3. `finetune` (optional): both together on augmented photos.
4. `scst` (optional): self-critical training of the decoder for CIDEr-D on its own sampled captions, the CNN frozen
   (training/captioning/scst.py). `--init-from models/NAME/V` starts it from an exported version instead of
   this run's stages 1-3 (training/captioning/from_export.py).

The export's scores are measured the way the server captions: photos decoded from the JPEG files through the
manifest's recipe, then beam search over the exported graphs (training/captioning/onnx_captioner.py).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from core.manifest import Photo
from training import quantize
from training.caption_metrics import ConstantCaptionSearch, coco_scores
from training.captioning import export as graphs
from training.captioning import scst, stages
from training.captioning.data import CaptionData
from training.captioning.from_export import import_run
from training.captioning.onnx_captioner import OnnxCaptioner, photos
from training.data import flickr8k
from training.grid import write_grid
from training.models.captioner import Captioner, CaptionerConfig
from training.tasks import common
from training.tasks.base import Task
from training.tokenization import words
from training.trainer import TrainerConfig

GREEDY_IMAGES = 16
ALPHAS = (0.0, 0.5, 1.0)  # length normalisation exponents tried on the dev split
STAGES = {
    "encoder": "CNN pretrained on word occurrence (multi-label), augmented photos",
    "decoder": "LSTM decoder on cached features of the frozen CNN (4 augmented views per photo)",
    "finetune": "CNN and decoder together on augmented photos, one random caption per photo",
    "scst": "decoder trained on its own sampled captions for CIDEr-D (self-critical), the CNN frozen",
}
OPTIONAL_STAGES = ("finetune", "scst")


def references(tok: Tokenizer, split: flickr8k.Split) -> list[list[str]]:
    """Each photo's five captions as normalised words joined by spaces, as the captions are scored."""
    return [[" ".join(words(tok, c)) for c in caps] for caps in split.captions]


class CaptionerFlickr8k(Task, name="captioner-flickr8k", task="caption"):
    description = "CNN+LSTM image captioner (Show, Attend and Tell) trained from scratch on Flickr8k"
    epochs, lr, batch_size = 25, 2e-3, 64
    batching = {"max_batch_size": 32, "max_delay_ms": 2}
    quantized_goal = quantize.Goal(
        "bleu4", 0.5, metrics={"test_images": "test_images", **{k: f"test_{k}" for k in ("bleu1", "bleu4", "cider")}}
    )

    @classmethod
    def add_train_args(cls, p: argparse.ArgumentParser) -> None:
        p.add_argument("--stage", choices=["encoder", "decoder", "finetune", "scst", "all"], default="all")
        p.add_argument("--finetune-epochs", type=int, default=0, help="stage 3: encoder and decoder together")
        p.add_argument("--finetune-lr", type=float, default=5e-4)
        p.add_argument("--finetune-batch-size", type=int, default=48)
        p.add_argument("--decoder-epochs", type=int, default=12)
        p.add_argument("--decoder-lr", type=float, default=2e-3)
        p.add_argument("--decoder-batch-size", type=int, default=64)
        p.add_argument("--attention", choices=["soft", "none", "first"], default="soft")
        p.add_argument("--views", type=int, default=4, help="augmented views per photo for the decoder stage")
        p.add_argument("--dropout", type=float, default=0.3)
        p.add_argument("--min-word-count", type=int, default=5)
        p.add_argument("--concepts", type=int, default=1000)
        p.add_argument("--attention-penalty", type=float, default=1.0)
        p.add_argument("--scst-epochs", type=int, default=0, help="stage 4: self-critical training for CIDEr-D")
        p.add_argument("--scst-lr", type=float, default=2e-4)
        p.add_argument("--scst-samples", type=int, default=5, help="captions sampled per photo")
        p.add_argument("--scst-batch-size", type=int, default=32, help="photos per step")
        p.add_argument(
            "--init-from",
            type=Path,
            default=None,
            help="stage 4 from an exported captioner folder (models/NAME/V) instead of this run's stages",
        )

    @classmethod
    def add_export_args(cls, p: argparse.ArgumentParser, command: str) -> None:
        p.add_argument("--beam-size", type=int, default=3)
        if command == "export":
            p.add_argument("--run-dir", type=Path, default=None, help=f"training run folder (default: runs/{cls.name})")

    # --- train ----------------------------------------------------------------------------------------------------

    def train(self) -> None:  # type: ignore[override]
        a, run = self.args, self.run_dir
        if a.init_from is not None and a.stage != "scst":
            raise SystemExit("--init-from starts stage 4 from an exported captioner: use it with --stage scst")
        data = CaptionData.load(self.data_dir, a.min_word_count, a.concepts, stages.MAX_WORDS, a.dry_run)
        if a.init_from is not None and not a.resume:  # checked and written before anything else of the run
            import_run(a.init_from, run, data.tokenizer)
        run.mkdir(parents=True, exist_ok=True)
        data.tokenizer.save(str(run / "tokenizer.json"))
        stats = data.pixel_stats()
        config = CaptionerConfig(vocab=data.tokenizer.get_vocab_size(), concepts=len(data.concepts), dropout=a.dropout,
                                 attention=a.attention)  # fmt: skip
        (run / "data.json").write_text(json.dumps({**stats, "concepts": data.concepts, "special": data.special}))
        if a.stage in ("encoder", "all"):
            stages.train_encoder(a, data, config, stats, replace(self.trainer_config(), checkpoint_dir=run / "encoder"))
        if a.stage in ("decoder", "all"):
            stages.train_decoder(a, data, config, stats, self.stage_config("decoder", a.decoder_epochs), run)
        if a.stage == "finetune" or (a.stage == "all" and a.finetune_epochs > 0):
            stages.train_finetune(a, data, config, stats, self.stage_config("finetune", a.finetune_epochs), run)
        if a.stage == "scst" or (a.stage == "all" and a.scst_epochs > 0):
            model = scst.load_stages(run, config)
            scst.train_scst(a, data, config, stats, self.stage_config("scst", a.scst_epochs), model)

    def stage_config(self, stage: str, epochs: int) -> TrainerConfig:
        """Trainer settings of the decoder and fine-tuning stages (the encoder's are the common ones)."""
        dry = self.args.dry_run
        return replace(self.trainer_config(), epochs=1 if dry else epochs, max_steps=3 if dry else None, grad_clip=5.0,
                       checkpoint_dir=self.run_dir / stage)  # fmt: skip

    # --- export and evaluate --------------------------------------------------------------------------------------

    @cached_property
    def stage_checkpoints(self) -> dict[str, dict[str, Any]]:
        """The checkpoint of each stage trained (encoder and decoder at least)."""
        paths = {stage: self.run_dir / stage / "checkpoint.pt" for stage in STAGES}
        kept = {s: p for s, p in paths.items() if s not in OPTIONAL_STAGES or p.exists()}
        return {s: torch.load(p, weights_only=False) for s, p in kept.items()}

    @cached_property
    def run_data(self) -> dict[str, Any]:
        """Pixel statistics, concept words and special token ids, as training recorded them."""
        return json.loads((self.run_dir / "data.json").read_text())

    @cached_property
    def splits(self) -> dict[str, flickr8k.Split]:
        captions = flickr8k.load_captions(self.data_dir)
        return {k: flickr8k.load_split(self.data_dir, k, captions) for k in ("train", "dev", "test")}

    def photos(self, names: list[str], recipe: dict[str, Any]) -> np.ndarray:
        root = flickr8k.root(self.data_dir) / "images"
        return photos(Photo(**recipe), [root / n for n in names])

    def load(self) -> Captioner:
        ckpts = self.stage_checkpoints
        cfg = dict(ckpts["decoder"]["config"])
        cfg["channels"] = tuple(cfg["channels"])
        model = scst.load_stages(self.run_dir, CaptionerConfig(**cfg))
        if "scst" in ckpts:  # stage 4 supersedes the decoder
            model.decoder.load_state_dict(ckpts["scst"]["state_dict"])
        return model.eval()

    def export_graphs(self, model: Captioner, out: Path) -> dict[str, Path]:
        (out / "tokenizer.json").write_text((self.run_dir / "tokenizer.json").read_text())
        sp = self.run_data["special"]
        self.graph_modules = graphs.export_graphs(model.encoder, model.decoder, [sp["pad"], sp["bos"], sp["unk"]], out)
        return {"encoder": out / "encoder.onnx", "decoder_step": out / "decoder_step.onnx"}

    def serving_fields(self, config: CaptionerConfig) -> dict[str, Any]:
        """What the service needs to caption: the photo recipe, the vocabulary, special tokens, decoding."""
        d, sp = self.run_data, self.run_data["special"]
        return {
            "preprocessing": {"kind": "photo", "resize": 128, "crop": config.image_size, "mean": d["mean"],
                              "std": d["std"], "steps": "RGB (alpha onto white), bicubic squash to 128x128, centre "
                              "crop, (x/255-mean)/std"},
            "tokenizer": "tokenizer.json",
            "special_tokens": {"pad": sp["pad"], "bos": sp["bos"], "eos": sp["eos"]},
            "decoding": {"beam_size": self.args.beam_size, "alpha": 1.0, "max_length": 20},
        }  # fmt: skip

    def manifest_extras(self, model: Captioner, out: Path) -> dict[str, Any]:
        fields = self.serving_fields(model.decoder.c)
        captioner = OnnxCaptioner(out, fields)
        probe = self.photos(self.splits["test"].names[:GREEDY_IMAGES], fields["preprocessing"])
        diffs = graphs.check_parity(*self.graph_modules, captioner, probe)
        print(f"parity max abs diff: {diffs}")
        graphs.check_greedy(model.encoder, self.graph_modules[1], captioner, probe)
        print(f"greedy decode of {GREEDY_IMAGES} test photos identical in PyTorch and onnxruntime")
        fields["decoding"]["alpha"] = captioner.alpha = self.choose_alpha(captioner, fields["preprocessing"])
        parity = {"max_abs_diff": max(diffs.values()), "checks": diffs, "greedy_identical_images": GREEDY_IMAGES}
        return {**fields, **self.test_report(captioner, fields["preprocessing"], out), "parity": parity}

    def choose_alpha(self, captioner: OnnxCaptioner, recipe: dict[str, Any]) -> float:
        """The length normalisation of ALPHAS with the best beam-search BLEU-4 on the dev split."""
        beam, dev = self.args.beam_size, self.splits["dev"]
        dev = flickr8k.Split(self.limited(dev.names), self.limited(dev.captions))
        x, refs = self.photos(dev.names, recipe), references(captioner.tokenizer, dev)
        self.dev_bleu = {a: coco_scores(captioner.captions(x, beam, a), refs)["bleu4"] for a in ALPHAS}
        alpha = max(ALPHAS, key=lambda a: self.dev_bleu[a])
        print(f"dev BLEU-4 by length-normalisation alpha (beam {beam}): {self.dev_bleu}; chosen {alpha}")
        return alpha

    def test_report(self, captioner: OnnxCaptioner, recipe: dict[str, Any], out: Path) -> dict[str, Any]:
        """Test scores of beam search and greedy decoding against the best constant caption; example captions."""
        beam, alpha, tok = self.args.beam_size, captioner.alpha, captioner.tokenizer
        names = self.limited(self.splits["test"].names)
        refs = references(tok, flickr8k.Split(names, self.splits["test"].captions[: len(names)]))
        x = self.photos(names, recipe)
        beam_texts = captioner.captions(x, beam, alpha)
        scores, greedy = coco_scores(beam_texts, refs), coco_scores(captioner.captions(x, 1, alpha), refs)
        train_refs = [[words(tok, c) for c in caps] for caps in self.splits["train"].captions]
        constant, train_bleu4 = ConstantCaptionSearch(train_refs).best([w for refs in train_refs for w in refs])
        baseline = coco_scores([" ".join(constant)] * len(refs), refs)
        print(f"test beam {beam}: {scores}\ntest greedy: {greedy}\nconstant {' '.join(constant)!r}: {baseline}")
        root = flickr8k.root(self.data_dir) / "images"
        write_grid(out / "examples.png", [root / n for n in names[:8]], beam_texts[:8])
        metrics = {
            **{f"test_{k}": v for k, v in scores.items()},
            **{f"test_greedy_{k}": v for k, v in greedy.items()},
            **{f"baseline_{k}": v for k, v in baseline.items()},
            "bleu4_over_baseline": round(scores["bleu4"] / baseline["bleu4"], 3),
            "test_images": len(names),
            "dev_bleu4_beam": self.dev_bleu[alpha],
        }
        evaluation = {
            "references": "all 5 captions per image, normalised as the vocabulary (lowercase, punctuation dropped)",
            "scorer": "pycocoevalcap Bleu(4) and Cider (coco-caption), scores x100",
            "decoding": f"beam {beam}, alpha {alpha} chosen on dev from {list(ALPHAS)}; greedy for comparison",
            "baseline_caption": " ".join(constant),
            "baseline_rule": "the training caption with the best corpus BLEU-4 on the training split "
            f"({train_bleu4:.4f})",
            "examples": [{"image": n, "caption": c} for n, c in zip(names[:12], beam_texts[:12], strict=False)],
        }
        return {"metrics": metrics, "evaluation": evaluation}

    def reference(self, model: Captioner, out: Path) -> tuple[str, dict[str, np.ndarray]]:
        recipe = self.serving_fields(model.decoder.c)["preprocessing"]
        return "encoder", {"image": self.photos(self.splits["test"].names[:2], recipe)}

    def dataset(self) -> dict[str, Any]:
        return {"name": "Flickr8k", "files": flickr8k.checksums(self.data_dir)}

    def training_record(self) -> dict[str, Any]:
        ckpts = self.stage_checkpoints
        records = {s: common.training_record(ckpts[s], {"stage": what, **self.imported(ckpts[s])})
                   for s, what in STAGES.items() if s in ckpts}  # fmt: skip
        vocabulary = Tokenizer.from_file(str(self.run_dir / "tokenizer.json")).get_vocab_size()
        return {
            "model_config": ckpts["decoder"]["config"],
            "seconds": round(sum(r["seconds"] for r in records.values()), 1),
            "machine": records["encoder"]["machine"],
            "stages": records,
            "vocabulary": {"words": vocabulary, "min_count": 5, "from": "training split captions"},
        }

    @staticmethod
    def imported(ckpt: dict[str, Any]) -> dict[str, str]:
        """Where a stage trained elsewhere came from (--init-from): its weights were rebuilt from that folder."""
        return {"imported_from": ckpt["imported_from"]} if "imported_from" in ckpt else {}

    def workload(self, folder: Path, manifest: dict[str, Any]) -> quantize.Workload:
        captioner, beam = OnnxCaptioner(folder, manifest), self.args.beam_size
        batch = self.photos(self.splits["test"].names[:16], manifest["preprocessing"])
        return quantize.Workload(f"photos/s (16 test photos at a time, beam {beam})",
                                 lambda: len(captioner.captions(batch, beam)))  # fmt: skip

    def test_scores(self, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        captioner, test, beam = OnnxCaptioner(folder, manifest), self.splits["test"], self.args.beam_size
        names = self.limited(test.names)
        refs = references(captioner.tokenizer, flickr8k.Split(names, test.captions[: len(names)]))
        scores = coco_scores(captioner.captions(self.photos(names, manifest["preprocessing"]), beam), refs)
        return {"test_images": len(names), "beam_size": beam, **scores}
