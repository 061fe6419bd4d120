"""Char-LSTM on Tiny Shakespeare: truncated BPTT training, step/prefill export, validation loss."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training import distributed
from training.data import shakespeare
from training.export import (
    assert_parity,
    code_commit,
    cpu_session,
    export_onnx,
    graph_entry,
    reference_pair,
    write_manifest,
)
from training.models.char_lstm import CharLSTM, CharLSTMConfig, CharLSTMPrefill, CharLSTMStep
from training.tasks import common
from training.trainer import Trainer

NAME = "charlstm-shakespeare"
DATA_PARALLEL = True  # trains under torchrun: each rank takes its share of the streams
EVAL_STREAMS = 8


def add_arguments(
    train: argparse.ArgumentParser, export: argparse.ArgumentParser, evaluate: argparse.ArgumentParser
) -> None:
    common.add_train_args(train, epochs=30, lr=2e-3, batch_size=64)
    train.add_argument("--bptt", type=int, default=128, help="truncated BPTT length in characters")
    train.add_argument("--hidden-size", type=int, default=512)
    train.add_argument("--layers", type=int, default=2)
    train.add_argument("--embed-dim", type=int, default=128)
    train.add_argument("--dropout", type=float, default=0.25)
    train.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm")
    common.add_export_args(export, NAME)
    common.add_export_args(evaluate, NAME)


def streams(ids: np.ndarray, n_streams: int, offset: int = 0) -> torch.Tensor:
    """Cut a long id sequence into `n_streams` contiguous rows: (n_streams, len // n_streams)."""
    ids = ids[offset:]
    n = len(ids) // n_streams
    return torch.from_numpy(ids[: n * n_streams].reshape(n_streams, n))


def val_loss_torch(model: CharLSTM, ids: np.ndarray, chunk: int = 512) -> float:
    """Mean cross-entropy (nats/char) over every position of `ids`, state carried across chunks."""
    rows = streams(ids, EVAL_STREAMS)
    state = model.initial_state(EVAL_STREAMS)
    total, count = 0.0, 0
    for i in range(0, rows.shape[1] - 1, chunk):
        x, y = rows[:, i : i + chunk], rows[:, i + 1 : i + chunk + 1]
        x = x[:, : y.shape[1]]
        logits, state = model(x, state)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    return total / count


def train(args: argparse.Namespace) -> None:
    corpus = shakespeare.load(common.data_dir(args))
    train_ids, val_ids = corpus.train, corpus.val
    if args.dry_run:
        train_ids, val_ids = train_ids[:20_000], val_ids[:4_000]
    config = CharLSTMConfig(
        vocab_size=len(corpus.vocab),
        embed_dim=args.embed_dim,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        dropout=args.dropout,
    )
    tcfg = common.trainer_config(args, NAME)
    tcfg.grad_clip = args.grad_clip
    torch.manual_seed(args.seed)
    model = CharLSTM(config)
    steps_per_epoch = (len(train_ids) // args.batch_size - args.bptt) // args.bptt
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=tcfg.epochs * steps_per_epoch + 1, pct_start=0.05
    )
    gen = torch.Generator().manual_seed(args.seed)
    carry: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def epoch_batches(epoch: int):
        # A new random offset each epoch so chunk boundaries move; state is carried between chunks (TBPTT).
        rows = streams(train_ids, args.batch_size, int(torch.randint(0, args.bptt, (1,), generator=gen)))
        rows = distributed.shard(rows)  # this rank's streams; all of them when alone
        carry["state"] = model.initial_state(len(rows))
        for s in range(steps_per_epoch):
            i = s * args.bptt
            yield rows[:, i : i + args.bptt], rows[:, i + 1 : i + args.bptt + 1]

    def loss_fn(model: CharLSTM, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        h, c = carry["state"]
        logits, (h, c) = model(x, (h.detach().to(x.device), c.detach().to(x.device)))
        carry["state"] = (h, c)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), {}

    def evaluate(model: CharLSTM) -> dict[str, float]:
        return {"val_loss": val_loss_torch(model, val_ids)}

    history = Trainer(model, optimizer, tcfg, config, scheduler).fit(epoch_batches, loss_fn, evaluate)
    extra = {
        "batch_size": args.batch_size,
        "bptt": args.bptt,
        "lr": args.lr,
        "grad_clip": args.grad_clip,
        "optimizer": "AdamW + OneCycleLR",
    }
    common.finish_run(common.run_dir(args, NAME), extra, history)


def build(ckpt: dict) -> CharLSTM:
    model = CharLSTM(CharLSTMConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def val_loss_onnx(step_path: Path, ids: np.ndarray, layers: int, hidden: int) -> float:
    """The same metric as val_loss_torch, computed with the exported step graph in onnxruntime."""
    session = cpu_session(step_path)
    rows = streams(ids, EVAL_STREAMS).numpy()
    h = np.zeros((layers, EVAL_STREAMS, hidden), np.float32)
    c = np.zeros_like(h)
    total = 0.0
    for t in range(rows.shape[1] - 1):
        logits, h, c = session.run(None, {"tokens": rows[:, t], "h": h, "c": c})
        m = logits.max(1, keepdims=True)
        logp = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
        total -= float(logp[np.arange(EVAL_STREAMS), rows[:, t + 1]].sum())
    return total / (EVAL_STREAMS * (rows.shape[1] - 1))


def check_parity(model: CharLSTM, step_path: Path, prefill_path: Path, vocab_size: int) -> dict[str, float]:
    """Step and prefill graphs against PyTorch at batch 1 and 16, and over a 50-step greedy rollout."""
    step, prefill = cpu_session(step_path), cpu_session(prefill_path)
    step_t, prefill_t = CharLSTMStep(model).eval(), CharLSTMPrefill(model).eval()
    rng = np.random.default_rng(0)
    diffs: dict[str, float] = {}
    for b in (1, 16):
        h, c = (s.numpy() for s in model.initial_state(b))
        h = h + rng.normal(0, 0.5, h.shape).astype(np.float32)
        tokens = rng.integers(0, vocab_size, b).astype(np.int64)
        diffs[f"step_b{b}"] = assert_parity(step_t, step, {"tokens": tokens, "h": h, "c": c}, atol=1e-4)
        for t in (1, 7, 33):
            seq = rng.integers(0, vocab_size, (b, t)).astype(np.int64)
            diffs[f"prefill_b{b}_t{t}"] = assert_parity(prefill_t, prefill, {"tokens": seq, "h": h, "c": c}, atol=1e-4)
    # 50-step rollout: each runtime feeds its own state back; logits must stay within tolerance throughout.
    h_t, c_t = model.initial_state(1)
    h_o, c_o = h_t.numpy(), c_t.numpy()
    tok = np.array([0], np.int64)
    worst = 0.0
    with torch.no_grad():
        for _ in range(50):
            lt, h_t, c_t = step_t(torch.from_numpy(tok), h_t, c_t)
            lo, h_o, c_o = step.run(None, {"tokens": tok, "h": h_o, "c": c_o})
            worst = max(worst, float(np.abs(lt.numpy() - lo).max()))
            tok = lt.numpy().argmax(1).astype(np.int64)
    if worst > 1e-3:
        raise AssertionError(f"50-step rollout drifted: max logit diff {worst}")
    diffs["rollout_50"] = worst
    return diffs


def export(args: argparse.Namespace) -> None:
    ckpt = common.load_checkpoint(args, NAME)
    model = build(ckpt)
    cfg = model.config
    out = common.out_dir(args, NAME)
    h, c = model.initial_state(2)
    state_axes = {1: "batch"}
    axes = {"h": state_axes, "c": state_axes, "logits": {0: "batch"}, "h_out": state_axes, "c_out": state_axes}
    step_path, prefill_path = out / "step.onnx", out / "prefill.onnx"
    export_onnx(
        CharLSTMStep(model), (torch.zeros(2, dtype=torch.long), h, c), step_path,
        ["tokens", "h", "c"], ["logits", "h_out", "c_out"], {"tokens": {0: "batch"}, **axes},
    )  # fmt: skip
    export_onnx(
        CharLSTMPrefill(model), (torch.zeros(2, 5, dtype=torch.long), h, c), prefill_path,
        ["tokens", "h", "c"], ["logits", "h_out", "c_out"], {"tokens": {0: "batch", 1: "time"}, **axes},
    )  # fmt: skip
    diffs = check_parity(model, step_path, prefill_path, cfg.vocab_size)
    print(f"parity: {diffs}")
    corpus = shakespeare.load(common.data_dir(args))
    val = corpus.val[: args.eval_limit] if args.eval_limit else corpus.val
    loss = val_loss_onnx(step_path, val, cfg.num_layers, cfg.hidden_size)
    print(f"onnxruntime validation loss over {len(val)} characters: {loss:.4f} nats/char")
    params = sum(p.numel() for p in model.parameters())
    run_args = (args.checkpoint.parent if args.checkpoint else common.RUNS_DIR / NAME) / "train_args.json"
    extra = json.loads(run_args.read_text()) if run_args.exists() else {}
    zeros = np.zeros((cfg.num_layers, 1, cfg.hidden_size), np.float32)
    manifest = {
        "name": NAME,
        "version": int(out.name) if out.name.isdigit() else 1,
        "task": "generate",
        "description": "Character-level LSTM (char-rnn) trained on Tiny Shakespeare",
        "graphs": {"step": graph_entry(step_path), "prefill": graph_entry(prefill_path)},
        "vocab": corpus.vocab,
        "state": {"num_layers": cfg.num_layers, "hidden_size": cfg.hidden_size, "names": ["h", "c"]},
        "metrics": {
            "val_loss_nats_per_char": round(loss, 4),
            "val_bits_per_char": round(loss / math.log(2), 4),
            "val_characters": int(len(val)),
            "parameters": params,
        },
        "parity": diffs,
        "dataset": {
            "name": "Tiny Shakespeare",
            "files": shakespeare.checksums(),
            "split": "first 90% train, last 10% val",
        },
        "training": common.training_record(ckpt, extra),
        "code_commit": code_commit(),
        "reference": reference_pair(
            cpu_session(step_path),
            "step",
            {"tokens": np.array([corpus.vocab.index("R")], np.int64), "h": zeros, "c": zeros},
        ),
        "batching": {"max_batch_size": 64, "max_delay_ms": 2},
    }
    write_manifest(out, manifest)
    print(f"wrote {out}")


def evaluate(args: argparse.Namespace) -> None:
    out = common.out_dir(args, NAME)
    manifest = json.loads((out / "manifest.json").read_text())
    corpus = shakespeare.load(common.data_dir(args))
    val = corpus.val[: args.eval_limit] if args.eval_limit else corpus.val
    st = manifest["state"]
    loss = val_loss_onnx(out / "step.onnx", val, st["num_layers"], st["hidden_size"])
    print(json.dumps({"model": NAME, "val_characters": len(val), "val_loss_nats_per_char": loss}))
