"""GRU encoder-decoder on Multi30k: train en->fr or en->de, export encoder + decoder step, BLEU with beam search.

The model names are `gru-en-fr` and `gru-en-de`; the target language comes from the name.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from training import distributed
from training.data import multi30k
from training.export import code_commit, cpu_session, graph_entry, reference_pair, write_manifest
from training.models.seq2seq import Seq2Seq, Seq2SeqConfig
from training.tasks import common
from training.tokenization import BOS, EOS, PAD, encode, train_bpe
from training.trainer import Trainer
from training.translation.batching import buckets, collate, tokenized
from training.translation.export import check_parity, export_graphs
from training.translation.onnx_translator import OnnxTranslator, corpus_scores

NAMES = ("gru-en-fr", "gru-en-de")
DATA_PARALLEL = True  # trains under torchrun: each rank takes its share of every batch


def languages(name: str) -> tuple[str, str]:
    _, src, tgt = name.split("-")
    return src, tgt


def make_arguments(name: str):
    def add_arguments(
        train: argparse.ArgumentParser, export: argparse.ArgumentParser, evaluate: argparse.ArgumentParser
    ) -> None:
        common.add_train_args(train, epochs=12, lr=2e-3, batch_size=96)
        train.add_argument("--attention", choices=["bahdanau", "none"], default="bahdanau")
        train.add_argument("--src-vocab", type=int, default=8000)
        train.add_argument("--tgt-vocab", type=int, default=8000)
        train.add_argument("--embed-dim", type=int, default=256)
        train.add_argument("--enc-hidden", type=int, default=256)
        train.add_argument("--dec-hidden", type=int, default=512)
        train.add_argument("--dropout", type=float, default=0.3)
        train.add_argument("--label-smoothing", type=float, default=0.1)
        train.add_argument("--init-from", type=Path, default=None, help="start from this checkpoint's weights")
        for p in (export, evaluate):
            common.add_export_args(p, name)
            p.add_argument("--beam-size", type=int, default=5)
            p.add_argument("--alpha", type=float, default=1.0, help="length normalisation exponent")

    return add_arguments


def make_train(name: str):
    def train(args: argparse.Namespace) -> None:
        src_lang, tgt_lang = languages(name)
        data_dir = common.data_dir(args)
        run_dir = common.run_dir(args, name)
        run_dir.mkdir(parents=True, exist_ok=True)
        tr_src, tr_tgt = multi30k.load_pairs(data_dir, "train", src_lang, tgt_lang)
        va_src, va_tgt = multi30k.load_pairs(data_dir, "val", src_lang, tgt_lang)
        if args.dry_run:
            tr_src, tr_tgt, va_src, va_tgt = tr_src[:2000], tr_tgt[:2000], va_src[:100], va_tgt[:100]
        # Tokenizers are learned on the training split only, then frozen with the run (resume reuses them).
        src_tok_path, tgt_tok_path = run_dir / "src_tokenizer.json", run_dir / "tgt_tokenizer.json"
        if args.init_from and not src_tok_path.exists():
            for f in ("src_tokenizer.json", "tgt_tokenizer.json"):
                (run_dir / f).write_bytes((args.init_from.parent / f).read_bytes())
        if (args.resume or args.init_from) and src_tok_path.exists():
            src_tok, tgt_tok = Tokenizer.from_file(str(src_tok_path)), Tokenizer.from_file(str(tgt_tok_path))
        else:
            src_tok, tgt_tok = train_bpe(tr_src, args.src_vocab), train_bpe(tr_tgt, args.tgt_vocab)
            if distributed.is_main():  # every rank learns the same tokenizers; one writes them
                src_tok.save(str(src_tok_path))
                tgt_tok.save(str(tgt_tok_path))
        bos, eos = tgt_tok.token_to_id(BOS), tgt_tok.token_to_id(EOS)
        assert tgt_tok.token_to_id(PAD) == 0 and src_tok.token_to_id(PAD) == 0
        src_ids, tgt_ids = tokenized(src_tok, tr_src), tokenized(tgt_tok, tr_tgt)
        va_src_ids, va_tgt_ids = tokenized(src_tok, va_src), tokenized(tgt_tok, va_tgt)
        config = Seq2SeqConfig(
            src_vocab=src_tok.get_vocab_size(), tgt_vocab=tgt_tok.get_vocab_size(), embed_dim=args.embed_dim,
            enc_hidden=args.enc_hidden, dec_hidden=args.dec_hidden, dropout=args.dropout, attention=args.attention,
        )  # fmt: skip
        tcfg = common.trainer_config(args, name)
        tcfg.grad_clip = 1.0
        torch.manual_seed(args.seed)
        model = Seq2Seq(config)
        previous = None
        if args.init_from:  # fine-tune: the weights (and the tokenizers, copied above) of an earlier run
            init = torch.load(args.init_from, weights_only=False)
            model.load_state_dict(init["state_dict"])
            h = init["history"]
            previous = {"checkpoint": str(args.init_from), "epochs": len(h["epochs"]), "seconds": h["train_seconds"]}
        steps_per_epoch = len(buckets(src_ids, tgt_ids, args.batch_size, random.Random(0)))
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=args.lr, total_steps=tcfg.epochs * steps_per_epoch + 1, pct_start=0.05
        )
        rng = random.Random(args.seed)

        def epoch_batches(epoch: int):
            for idx in buckets(src_ids, tgt_ids, args.batch_size, rng):
                yield collate(src_ids, tgt_ids, distributed.shard(idx), bos, eos)  # this rank's share

        def loss_fn(model: Seq2Seq, batch):
            s, lengths, y_in, y_out = batch
            logits = model(s, lengths, y_in)
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y_out.reshape(-1), ignore_index=0,
                label_smoothing=args.label_smoothing,
            )  # fmt: skip
            return loss, {}

        def evaluate(model: Seq2Seq) -> dict[str, float]:
            total, count = 0.0, 0
            for k in range(0, len(va_src_ids), 128):
                idx = list(range(k, min(k + 128, len(va_src_ids))))
                s, lengths, y_in, y_out = collate(va_src_ids, va_tgt_ids, idx, bos, eos)
                logits = model(s, lengths, y_in)
                total += F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), y_out.reshape(-1), ignore_index=0, reduction="sum"
                ).item()
                count += int((y_out != 0).sum())
            return {"val_loss": total / count}

        history = Trainer(model, optimizer, tcfg, config, scheduler).fit(epoch_batches, loss_fn, evaluate)
        extra = {
            "batch_size": args.batch_size,
            "lr": args.lr,
            "label_smoothing": args.label_smoothing,
            "optimizer": "AdamW + OneCycleLR",
            "grad_clip": 1.0,
            "bpe_vocab": [args.src_vocab, args.tgt_vocab],
            "initialised_from": previous,  # its training time adds to this run's
        }
        common.finish_run(run_dir, extra, history)

    return train


def make_export(name: str):
    def export(args: argparse.Namespace) -> None:
        src_lang, tgt_lang = languages(name)
        ckpt = common.load_checkpoint(args, name)
        run_dir = args.checkpoint.parent if args.checkpoint else common.RUNS_DIR / name
        config = Seq2SeqConfig(**ckpt["config"])
        model = Seq2Seq(config)
        model.load_state_dict(ckpt["state_dict"])
        model.eval()
        out = common.out_dir(args, name)
        out.mkdir(parents=True, exist_ok=True)
        for f in ("src_tokenizer.json", "tgt_tokenizer.json"):
            (out / f).write_bytes((run_dir / f).read_bytes())
        src_tok = Tokenizer.from_file(str(out / "src_tokenizer.json"))
        tgt_tok = Tokenizer.from_file(str(out / "tgt_tokenizer.json"))
        bos, eos = tgt_tok.token_to_id(BOS), tgt_tok.token_to_id(EOS)
        export_graphs(model, out, bos)
        te_src, te_tgt = multi30k.load_pairs(common.data_dir(args), "test2016", src_lang, tgt_lang)
        diffs = check_parity(model, out, src_tok, te_src, bos, eos)
        print(f"parity: {diffs}")
        if args.eval_limit:
            te_src, te_tgt = te_src[: args.eval_limit], te_tgt[: args.eval_limit]
        translator = OnnxTranslator(out)
        scores = corpus_scores(translator, te_src, te_tgt, args.beam_size, args.alpha)
        greedy = corpus_scores(translator, te_src, te_tgt, 1, args.alpha)
        print(f"test2016 beam {args.beam_size}: BLEU {scores['bleu']} chrF {scores['chrf']}; greedy {greedy['bleu']}")
        (out / "test2016.hyp.txt").write_text("\n".join(scores["hypotheses"]) + "\n")
        extra_path = run_dir / "train_args.json"
        extra = json.loads(extra_path.read_text()) if extra_path.exists() else {}
        ref_tokens = np.array([encode(src_tok, "A man is riding a bike.")], np.int64)
        ref_in = {"tokens": ref_tokens, "lengths": np.array([ref_tokens.shape[1]], np.int64)}
        manifest = {
            "name": name,
            "version": int(out.name) if out.name.isdigit() else 1,
            "task": "translate",
            "description": f"GRU encoder-decoder ({config.attention} attention), {src_lang} to {tgt_lang}, Multi30k",
            "graphs": {g: graph_entry(out / f"{g}.onnx") for g in ("encoder", "decoder_step")},
            "languages": {"source": src_lang, "target": tgt_lang},
            "tokenizers": {"source": "src_tokenizer.json", "target": "tgt_tokenizer.json"},
            "special_tokens": {"pad": 0, "bos": bos, "eos": eos},
            "decoding": {"beam_size": args.beam_size, "alpha": args.alpha, "max_length": "2 * source tokens + 10"},
            "metrics": {
                "test2016_bleu": scores["bleu"],
                "test2016_chrf": scores["chrf"],
                "test2016_bleu_greedy": greedy["bleu"],
                "test_sentences": len(te_src),
                "parameters": sum(p.numel() for p in model.parameters()),
            },
            "bleu_signature": scores["signature"],
            "parity": diffs,
            "dataset": {"name": "Multi30k task 1", "files": multi30k.checksums(src_lang, tgt_lang)},
            "training": common.training_record(ckpt, extra),
            "code_commit": code_commit(),
            "reference": reference_pair(cpu_session(out / "encoder.onnx"), "encoder", ref_in),
            "batching": {"max_batch_size": 64, "max_delay_ms": 2},
        }
        write_manifest(out, manifest)
        print(f"wrote {out}")

    return export


def make_evaluate(name: str):
    def evaluate(args: argparse.Namespace) -> None:
        src_lang, tgt_lang = languages(name)
        te_src, te_tgt = multi30k.load_pairs(common.data_dir(args), "test2016", src_lang, tgt_lang)
        if args.eval_limit:
            te_src, te_tgt = te_src[: args.eval_limit], te_tgt[: args.eval_limit]
        scores = corpus_scores(OnnxTranslator(common.out_dir(args, name)), te_src, te_tgt, args.beam_size, args.alpha)
        del scores["hypotheses"]
        print(json.dumps({"model": name, "test_sentences": len(te_src), "beam_size": args.beam_size, **scores}))

    return evaluate
