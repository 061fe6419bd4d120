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
from sacrebleu.metrics import BLEU, CHRF
from tokenizers import Tokenizer

from core.decoding.beam import beam_search
from training import distributed
from training.data import multi30k
from training.export import (
    assert_parity,
    code_commit,
    cpu_session,
    export_onnx,
    graph_entry,
    reference_pair,
    write_manifest,
)
from training.models.seq2seq import DecoderStepExport, EncoderExport, Seq2Seq, Seq2SeqConfig
from training.tasks import common
from training.tokenization import BOS, EOS, PAD, decode, encode, train_bpe
from training.trainer import Trainer

NAMES = ("gru-en-fr", "gru-en-de")
DATA_PARALLEL = True  # trains under torchrun: each rank takes its share of every batch
MAX_LEN = 80  # subword tokens; longer training sentences are truncated (none in Multi30k train exceed it)


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


def batches(src: list[list[int]], tgt: list[list[int]], batch_size: int, rng: random.Random):
    """Length-bucketed batches: shuffle, sort within pools of 50 batches by source length, shuffle batches."""
    order = list(range(len(src)))
    rng.shuffle(order)
    pool = batch_size * 50
    out = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda j: (len(src[j]), len(tgt[j])))
        out += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out


def collate(src: list[list[int]], tgt: list[list[int]], idx: list[int], bos: int, eos: int):
    """-> src (B, S), lengths (B,), decoder input [BOS] + y (B, T), decoder target y + [EOS] (B, T); pad 0."""
    s_len = max(len(src[i]) for i in idx)
    t_len = max(len(tgt[i]) for i in idx) + 1
    s = torch.zeros(len(idx), s_len, dtype=torch.long)
    y_in = torch.zeros(len(idx), t_len, dtype=torch.long)
    y_out = torch.zeros(len(idx), t_len, dtype=torch.long)
    for r, i in enumerate(idx):
        s[r, : len(src[i])] = torch.tensor(src[i])
        y_in[r, : len(tgt[i]) + 1] = torch.tensor([bos] + tgt[i])
        y_out[r, : len(tgt[i]) + 1] = torch.tensor(tgt[i] + [eos])
    lengths = torch.tensor([len(src[i]) for i in idx])
    return s, lengths, y_in, y_out


def tokenized(tok: Tokenizer, lines: list[str]) -> list[list[int]]:
    return [ids[:MAX_LEN] or [tok.token_to_id("<unk>")] for ids in (encode(tok, line) for line in lines)]


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
        steps_per_epoch = len(batches(src_ids, tgt_ids, args.batch_size, random.Random(0)))
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=args.lr, total_steps=tcfg.epochs * steps_per_epoch + 1, pct_start=0.05
        )
        rng = random.Random(args.seed)

        def epoch_batches(epoch: int):
            for idx in batches(src_ids, tgt_ids, args.batch_size, rng):
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


class OnnxTranslator:
    """Beam search over the exported graphs with the service's own decoding code: what users will get."""

    def __init__(self, folder: Path) -> None:
        self.enc = cpu_session(folder / "encoder.onnx")
        self.dec = cpu_session(folder / "decoder_step.onnx")
        self.src_tok = Tokenizer.from_file(str(folder / "src_tokenizer.json"))
        self.tgt_tok = Tokenizer.from_file(str(folder / "tgt_tokenizer.json"))

    def translate(self, texts: list[str], beam_size: int, alpha: float) -> list[str]:
        ids = [encode(self.src_tok, t)[:MAX_LEN] or [3] for t in texts]
        s = np.zeros((len(ids), max(map(len, ids))), np.int64)
        for r, row in enumerate(ids):
            s[r, : len(row)] = row
        lengths = np.array([len(r) for r in ids], np.int64)
        memory, keys, mask, state = self.enc.run(None, {"tokens": s, "lengths": lengths})

        def step(tokens, st, sent):
            logp, st, attn = self.dec.run(
                None, {"tokens": tokens, "state": st, "memory": memory[sent], "keys": keys[sent], "mask": mask[sent]}
            )
            return logp, st, attn

        bos, eos = self.tgt_tok.token_to_id(BOS), self.tgt_tok.token_to_id(EOS)
        hyps = beam_search(step, state, bos, eos, beam_size, [2 * len(r) + 10 for r in ids], alpha)
        return [decode(self.tgt_tok, h.tokens) for h in hyps]


def corpus_scores(translator: OnnxTranslator, src: list[str], ref: list[str], beam: int, alpha: float) -> dict:
    hyps: list[str] = []
    for k in range(0, len(src), 64):
        hyps += translator.translate(src[k : k + 64], beam, alpha)
    bleu, chrf = BLEU(), CHRF()
    return {
        "bleu": round(bleu.corpus_score(hyps, [ref]).score, 2),
        "chrf": round(chrf.corpus_score(hyps, [ref]).score, 2),
        "signature": str(bleu.get_signature()),
        "hypotheses": hyps,
    }


def torch_greedy(model: Seq2Seq, s: torch.Tensor, lengths: torch.Tensor, bos: int, eos: int, max_len: int):
    memory, keys, mask, state = model.encoder(s, lengths)
    step = DecoderStepExport(model)
    tok = torch.full((s.shape[0],), bos, dtype=torch.long)
    out = []
    for _ in range(max_len):
        logp, state, _ = step(tok, state, memory, keys, mask)
        tok = logp.argmax(-1)
        out.append(tok)
    return torch.stack(out, 1)


def check_parity(model: Seq2Seq, folder: Path, src_tok: Tokenizer, sentences: list[str], bos: int, eos: int) -> dict:
    """Encoder and step graphs against PyTorch at several batch sizes and lengths; a greedy decode must match."""
    enc, dec = cpu_session(folder / "encoder.onnx"), cpu_session(folder / "decoder_step.onnx")
    diffs = {}
    for b in (1, 5, 16):
        ids = [encode(src_tok, t) for t in sentences[:b]]
        s = torch.zeros(b, max(map(len, ids)), dtype=torch.long)
        for r, row in enumerate(ids):
            s[r, : len(row)] = torch.tensor(row)
        lengths = torch.tensor([len(r) for r in ids])
        diffs[f"encoder_b{b}"] = assert_parity(
            EncoderExport(model), enc, {"tokens": s.numpy(), "lengths": lengths.numpy()}, 1e-4
        )
        with torch.no_grad():
            memory, keys, mask, state = model.encoder(s, lengths)
            feeds = {"tokens": torch.full((b,), bos).numpy(), "state": state.numpy(), "memory": memory.numpy(),
                     "keys": keys.numpy(), "mask": mask.numpy()}  # fmt: skip
            diffs[f"step_b{b}"] = assert_parity(DecoderStepExport(model), dec, feeds, 1e-4)
            greedy_t = torch_greedy(model, s, lengths, bos, eos, 30).numpy()
        m, k, mk, st = enc.run(None, {"tokens": s.numpy(), "lengths": lengths.numpy()})
        tok = np.full(b, bos, np.int64)
        greedy_o = []
        for _ in range(30):
            logp, st, _ = dec.run(None, {"tokens": tok, "state": st, "memory": m, "keys": k, "mask": mk})
            tok = logp.argmax(-1)
            greedy_o.append(tok)
        if not (np.stack(greedy_o, 1) == greedy_t).all():
            raise AssertionError(f"greedy decode differs between PyTorch and onnxruntime at batch {b}")
    return diffs


MEM = {0: "batch", 1: "mem_len"}
ENCODER_AXES = {"tokens": {0: "batch", 1: "src_len"}, "lengths": {0: "batch"}, "memory": MEM, "keys": MEM,
                "mask": MEM, "state": {0: "batch"}}  # fmt: skip
STEP_AXES = {"tokens": {0: "batch"}, "state": {0: "batch"}, "memory": MEM, "keys": MEM, "mask": MEM,
             "log_probs": {0: "batch"}, "state_out": {0: "batch"}, "attention": MEM}  # fmt: skip


def export_graphs(model: Seq2Seq, out: Path, bos: int) -> None:
    """encoder.onnx and decoder_step.onnx, dynamic in batch and source length."""
    s, lengths = torch.tensor([[5, 6, 7], [8, 9, 0]]), torch.tensor([3, 2])
    with torch.no_grad():
        memory, keys, mask, state = model.encoder(s, lengths)
    enc_io = (["tokens", "lengths"], ["memory", "keys", "mask", "state"])
    export_onnx(EncoderExport(model), (s, lengths), out / "encoder.onnx", *enc_io, ENCODER_AXES)
    step_io = (["tokens", "state", "memory", "keys", "mask"], ["log_probs", "state_out", "attention"])
    step_args = (torch.tensor([bos, bos]), state, memory, keys, mask)
    export_onnx(DecoderStepExport(model), step_args, out / "decoder_step.onnx", *step_io, STEP_AXES)


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
