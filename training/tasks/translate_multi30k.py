"""GRU encoder-decoder on Multi30k: train en->fr or en->de, export encoder + decoder step, BLEU with beam search.

The model names are `gru-en-fr` and `gru-en-de`; the languages come from the name.
"""

from __future__ import annotations

import argparse
import random
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from training import distributed, quantize
from training.data import multi30k
from training.models.seq2seq import Seq2Seq, Seq2SeqConfig
from training.tasks import common
from training.tasks.base import Task
from training.tokenization import BOS, EOS, PAD, encode, train_bpe
from training.translation import export as graphs
from training.translation.batching import buckets, collate, tokenized
from training.translation.onnx_translator import OnnxTranslator, corpus_scores

TOKENIZER_FILES = ("src_tokenizer.json", "tgt_tokenizer.json")


class Translate(Task, task="translate"):
    """The translator of one Multi30k language pair; each subclass names a pair as `gru-<source>-<target>`."""

    data_parallel = True  # each rank takes its share of every batch
    model_class, config_class = Seq2Seq, Seq2SeqConfig
    quantized_goal = quantize.Goal(
        "bleu", 0.5, speedup=1.5,
        metrics={"bleu": "test2016_bleu", "bleu_tokenized": "test2016_bleu_tokenized", "chrf": "test2016_chrf",
                 "test_sentences": "test_sentences"},
    )  # fmt: skip
    epochs, lr, batch_size = 12, 2e-3, 96
    weight_decay, warmup, grad_clip = 0.01, 0.05, 1.0
    keep_snapshots = 5  # export --average-last averages the weights of the last epochs

    @classmethod
    def add_train_args(cls, p: argparse.ArgumentParser) -> None:
        p.add_argument("--attention", choices=["bahdanau", "none"], default="bahdanau")
        p.add_argument("--src-vocab", type=int, default=8000)
        p.add_argument("--tgt-vocab", type=int, default=8000)
        p.add_argument("--embed-dim", type=int, default=256)
        p.add_argument("--enc-hidden", type=int, default=256)
        p.add_argument("--dec-hidden", type=int, default=512)
        p.add_argument("--dropout", type=float, default=0.3)
        p.add_argument("--label-smoothing", type=float, default=0.1)
        p.add_argument(
            "--bpe-dropout", type=common.probability, default=0.0,
            help="resample each training sentence's subword segmentation every epoch, skipping each merge with "
            "this probability (0.1 in Provilkov et al. 2020); 0 keeps the fixed segmentation",
        )  # fmt: skip
        p.add_argument(
            "--tie-embeddings", action="store_true", help="share the target embedding with the output projection"
        )
        p.add_argument("--init-from", type=Path, default=None, help="start from this checkpoint's weights")

    @classmethod
    def add_export_args(cls, p: argparse.ArgumentParser, command: str) -> None:
        p.add_argument("--beam-size", type=int, default=5)
        p.add_argument(
            "--alpha", type=float, default=None,
            help="length normalisation exponent (export: default 1.0; evaluate: default the manifest's)",
        )  # fmt: skip
        if command == "export":
            p.add_argument(
                "--alpha-grid", type=alphas, default=None, metavar="A,B,...",
                help="choose --alpha among these by BLEU on the validation split (beam --beam-size)",
            )  # fmt: skip

    @property
    def languages(self) -> tuple[str, str]:
        _, src, tgt = self.name.split("-")
        return src, tgt

    @property
    def description(self) -> str:  # type: ignore[override]
        src, tgt = self.languages
        attention = self.checkpoint["config"]["attention"]
        return f"GRU encoder-decoder ({attention} attention), {src} to {tgt}, Multi30k"

    # --- train ----------------------------------------------------------------------------------------------------

    def setup(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tr_src, tr_tgt = multi30k.load_pairs(self.data_dir, "train", *self.languages)
        va_src, va_tgt = multi30k.load_pairs(self.data_dir, "val", *self.languages)
        if self.args.dry_run:
            tr_src, tr_tgt, va_src, va_tgt = tr_src[:2000], tr_tgt[:2000], va_src[:100], va_tgt[:100]
        self.src_tok, self.tgt_tok = self.learn_tokenizers(tr_src, tr_tgt)
        self.bos, self.eos = self.tgt_tok.token_to_id(BOS), self.tgt_tok.token_to_id(EOS)
        assert self.tgt_tok.token_to_id(PAD) == 0 and self.src_tok.token_to_id(PAD) == 0
        self.src_ids, self.tgt_ids = tokenized(self.src_tok, tr_src), tokenized(self.tgt_tok, tr_tgt)
        self.train_lines = tr_src, tr_tgt
        self.va_src_ids, self.va_tgt_ids = tokenized(self.src_tok, va_src), tokenized(self.tgt_tok, va_tgt)

    def learn_tokenizers(self, src: list[str], tgt: list[str]) -> tuple[Tokenizer, Tokenizer]:
        """Learned on the training split only, then frozen with the run (--resume and --init-from reuse them)."""
        a, run = self.args, self.run_dir
        paths = [run / f for f in TOKENIZER_FILES]
        if a.init_from and not paths[0].exists():
            for f in TOKENIZER_FILES:
                (run / f).write_bytes((a.init_from.parent / f).read_bytes())
        if (a.resume or a.init_from) and paths[0].exists():
            return Tokenizer.from_file(str(paths[0])), Tokenizer.from_file(str(paths[1]))
        src_tok, tgt_tok = train_bpe(src, a.src_vocab), train_bpe(tgt, a.tgt_vocab)
        if distributed.is_main():  # every rank learns the same tokenizers; one writes them
            src_tok.save(str(paths[0]))
            tgt_tok.save(str(paths[1]))
        return src_tok, tgt_tok

    def model_config(self) -> Seq2SeqConfig:
        a = self.args
        return Seq2SeqConfig(
            src_vocab=self.src_tok.get_vocab_size(), tgt_vocab=self.tgt_tok.get_vocab_size(), embed_dim=a.embed_dim,
            enc_hidden=a.enc_hidden, dec_hidden=a.dec_hidden, dropout=a.dropout, attention=a.attention,
            tie_embeddings=a.tie_embeddings,
        )  # fmt: skip

    def build_model(self) -> Seq2Seq:
        model = super().build_model()
        self.previous = None
        if self.args.init_from:  # fine-tune: the weights (and the tokenizers, copied in setup) of an earlier run
            init = torch.load(self.args.init_from, weights_only=False)
            model.load_state_dict(init["state_dict"])
            h = init["history"]
            self.previous = {"checkpoint": str(self.args.init_from), "epochs": len(h["epochs"]),
                             "seconds": h["train_seconds"]}  # fmt: skip
        return model

    def steps_per_epoch(self) -> int:
        return len(buckets(self.src_ids, self.tgt_ids, self.args.batch_size, random.Random(0)))

    def schedule_steps(self, epochs: int) -> int:
        return super().schedule_steps(epochs) + 1

    def batches(self, epoch: int):
        rng = random.Random(common.epoch_seed(self.args.seed, epoch))
        src, tgt, p = self.src_ids, self.tgt_ids, self.args.bpe_dropout
        if p > 0:  # one draw, rank 0's, so every rank buckets and shards the same sentences
            (tr_src, tr_tgt), (s_tok, t_tok) = self.train_lines, (self.src_tok, self.tgt_tok)
            src, tgt = distributed.broadcast((tokenized(s_tok, tr_src, p), tokenized(t_tok, tr_tgt, p)))
        for idx in buckets(src, tgt, self.args.batch_size, rng):
            yield collate(src, tgt, distributed.shard(idx), self.bos, self.eos)  # this rank's share

    def loss(self, model: Seq2Seq, batch):
        s, lengths, y_in, y_out = batch
        logits = model(s, lengths, y_in)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y_out.reshape(-1), ignore_index=0,
            label_smoothing=self.args.label_smoothing,
        )  # fmt: skip
        return loss, {}

    def validate(self, model: Seq2Seq) -> dict[str, float]:
        total, count = 0.0, 0
        for k in range(0, len(self.va_src_ids), 128):
            idx = list(range(k, min(k + 128, len(self.va_src_ids))))
            s, lengths, y_in, y_out = collate(self.va_src_ids, self.va_tgt_ids, idx, self.bos, self.eos)
            logits = model(s, lengths, y_in)
            total += F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y_out.reshape(-1), ignore_index=0, reduction="sum"
            ).item()
            count += int((y_out != 0).sum())
        return {"val_loss": total / count}

    def run_record(self) -> dict[str, Any]:
        a = self.args
        return {
            **super().run_record(),
            "label_smoothing": a.label_smoothing,
            "bpe_dropout": a.bpe_dropout,
            "grad_clip": self.grad_clip,
            "bpe_vocab": [a.src_vocab, a.tgt_vocab],
            "initialised_from": self.previous,  # its training time adds to this run's
        }

    # --- export and evaluate --------------------------------------------------------------------------------------

    @cached_property
    def tokenizers(self) -> tuple[Tokenizer, Tokenizer]:
        """The run's source and target tokenizers (saved next to its checkpoint)."""
        src, tgt = (Tokenizer.from_file(str(self.checkpoint_path.parent / f)) for f in TOKENIZER_FILES)
        return src, tgt

    @cached_property
    def test_pairs(self) -> tuple[list[str], list[str]]:
        return multi30k.load_pairs(self.data_dir, "test2016", *self.languages)

    def export_graphs(self, model: Seq2Seq, out: Path) -> dict[str, Path]:
        for f in TOKENIZER_FILES:
            (out / f).write_bytes((self.checkpoint_path.parent / f).read_bytes())
        return graphs.export_graphs(model, out, self.tokenizers[1].token_to_id(BOS))

    def manifest_extras(self, model: Seq2Seq, out: Path) -> dict[str, Any]:
        a, (src_tok, tgt_tok) = self.args, self.tokenizers
        bos, eos = tgt_tok.token_to_id(BOS), tgt_tok.token_to_id(EOS)
        diffs = graphs.check_parity(model, out, src_tok, self.test_pairs[0], bos, eos)
        print(f"parity: {diffs}")
        src, tgt = self.languages
        translator = OnnxTranslator(out, src)
        alpha = 1.0 if a.alpha is None else a.alpha
        decoding: dict[str, Any] = {"beam_size": a.beam_size, "alpha": alpha, "max_length": "2 * source tokens + 10"}
        if a.alpha_grid:
            va_src, va_tgt = (self.limited(side) for side in multi30k.load_pairs(self.data_dir, "val", src, tgt))
            val_bleu = {x: corpus_scores(translator, va_src, va_tgt, a.beam_size, x, tgt)["bleu"] for x in a.alpha_grid}
            alpha = max(a.alpha_grid, key=lambda x: val_bleu[x])  # the first of equals: the grid's order decides
            print(f"validation BLEU by length-normalisation alpha (beam {a.beam_size}): {val_bleu}; chosen {alpha}")
            decoding.update(
                alpha=alpha, alpha_chosen_on="val", val_bleu_by_alpha={str(x): b for x, b in val_bleu.items()}
            )
        te_src, te_tgt = (self.limited(side) for side in self.test_pairs)
        scores = corpus_scores(translator, te_src, te_tgt, a.beam_size, alpha, tgt)
        greedy = corpus_scores(translator, te_src, te_tgt, 1, alpha, tgt)
        print(
            f"test2016 beam {a.beam_size}: BLEU {scores['bleu']} (tokenised {scores['bleu_tokenized']}) "
            f"chrF {scores['chrf']}; greedy {greedy['bleu']}"
        )
        (out / "test2016.hyp.txt").write_text("\n".join(scores["hypotheses"]) + "\n")
        return {
            "languages": {"source": src, "target": tgt},
            "tokenizers": {"source": TOKENIZER_FILES[0], "target": TOKENIZER_FILES[1]},
            "special_tokens": {"pad": 0, "bos": bos, "eos": eos},
            "decoding": decoding,
            "metrics": {
                "test2016_bleu": scores["bleu"],
                "test2016_bleu_tokenized": scores["bleu_tokenized"],
                "test2016_chrf": scores["chrf"],
                "test2016_bleu_greedy": greedy["bleu"],
                "test_sentences": len(te_src),
                "parameters": sum(p.numel() for p in model.parameters()),
            },
            "bleu_signature": scores["signature"],
            "bleu_tokenized_method": "Moses-tokenised (sacremoses), lower-cased, BLEU with no further tokenisation",
            "parity": diffs,
        }

    def reference(self, model: Seq2Seq, out: Path) -> tuple[str, dict[str, np.ndarray]]:
        tokens = np.array([encode(self.tokenizers[0], "A man is riding a bike.")], np.int64)
        return "encoder", {"tokens": tokens, "lengths": np.array([tokens.shape[1]], np.int64)}

    def dataset(self) -> dict[str, Any]:
        return {"name": "Multi30k task 1", "files": multi30k.checksums(*self.languages)}

    def test_scores(self, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        te_src, te_tgt = (self.limited(side) for side in self.test_pairs)
        beam = self.args.beam_size
        alpha = manifest["decoding"].get("alpha", 1.0) if self.args.alpha is None else self.args.alpha
        src, tgt = self.languages
        scores = corpus_scores(OnnxTranslator(folder, src), te_src, te_tgt, beam, alpha, tgt)
        del scores["hypotheses"]
        return {"test_sentences": len(te_src), "beam_size": beam, "alpha": alpha, **scores}

    def workload(self, folder: Path, manifest: dict[str, Any]) -> quantize.Workload:
        translator = OnnxTranslator(folder, self.languages[0])
        texts, beam = self.test_pairs[0][:32], self.args.beam_size
        alpha = manifest["decoding"].get("alpha", 1.0)
        unit = f"sentences/s (32 test2016 sentences at a time, beam {beam})"
        return quantize.Workload(unit, lambda: len(translator.translate(texts, beam, alpha)))


def alphas(text: str) -> list[float]:
    """--alpha-grid: comma-separated non-negative numbers."""
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, e.g. 0.6,0.8,1.0; got {text!r}"
        ) from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"alphas must be >= 0, got {text!r}")
    return values


class GruEnFr(Translate, name="gru-en-fr"):
    """English to French."""


class GruEnDe(Translate, name="gru-en-de"):
    """English to German."""
