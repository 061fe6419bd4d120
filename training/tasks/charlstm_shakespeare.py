"""Char-LSTM on Tiny Shakespeare: truncated BPTT training, step/prefill export, validation loss."""

from __future__ import annotations

import argparse
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from training import distributed, quantize
from training.data import shakespeare
from training.export import assert_parity, cpu_session, export_onnx
from training.models.char_lstm import CharLSTM, CharLSTMConfig, CharLSTMPrefill, CharLSTMStep
from training.tasks import common
from training.tasks.base import Task

EVAL_STREAMS = 8
STATE_AXES = {1: "batch"}
AXES = {"h": STATE_AXES, "c": STATE_AXES, "logits": {0: "batch"}, "h_out": STATE_AXES, "c_out": STATE_AXES}
IO = (["tokens", "h", "c"], ["logits", "h_out", "c_out"])


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


def greedy_tokens(session: ort.InferenceSession, manifest: dict[str, Any], streams: int = 16, steps: int = 64) -> int:
    """Generate greedily from 16 streams one step at a time, as a server decodes; returns the tokens made."""
    state = manifest["state"]
    h = np.zeros((state["num_layers"], streams, state["hidden_size"]), np.float32)
    c, tokens = np.zeros_like(h), np.arange(streams, dtype=np.int64) % len(manifest["vocab"])
    for _ in range(steps):
        logits, h, c = session.run(None, {"tokens": tokens, "h": h, "c": c})
        tokens = logits.argmax(1).astype(np.int64)
    return streams * steps


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


class CharLstmShakespeare(Task, name="charlstm-shakespeare", task="generate"):
    description = "Character-level LSTM (char-rnn) trained on Tiny Shakespeare"
    data_parallel = True  # each rank takes its share of the streams
    model_class, config_class = CharLSTM, CharLSTMConfig
    quantized_goal = quantize.Goal(
        "val_loss_nats_per_char", 0.02, higher_is_better=False, speedup=1.3,
        metrics={"val_loss_nats_per_char": "val_loss_nats_per_char", "val_characters": "val_characters"},
    )  # fmt: skip
    epochs, lr, batch_size = 30, 2e-3, 64
    weight_decay, warmup = 0.01, 0.05

    @classmethod
    def add_train_args(cls, p: argparse.ArgumentParser) -> None:
        p.add_argument("--bptt", type=int, default=128, help="truncated BPTT length in characters")
        p.add_argument("--hidden-size", type=int, default=512)
        p.add_argument("--layers", type=int, default=2)
        p.add_argument("--embed-dim", type=int, default=128)
        p.add_argument("--dropout", type=float, default=0.25)
        p.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm")

    @cached_property
    def corpus(self) -> shakespeare.CharCorpus:
        return shakespeare.load(self.data_dir)

    # --- train ----------------------------------------------------------------------------------------------------

    @property
    def grad_clip(self) -> float:  # type: ignore[override]
        return self.args.grad_clip

    def setup(self) -> None:
        self.train_ids, self.val_ids = self.corpus.train, self.corpus.val
        if self.args.dry_run:
            self.train_ids, self.val_ids = self.train_ids[:20_000], self.val_ids[:4_000]

    def model_config(self) -> CharLSTMConfig:
        a = self.args
        return CharLSTMConfig(
            vocab_size=len(self.corpus.vocab),
            embed_dim=a.embed_dim,
            hidden_size=a.hidden_size,
            num_layers=a.layers,
            dropout=a.dropout,
        )

    def steps_per_epoch(self) -> int:
        return (len(self.train_ids) // self.args.batch_size - self.args.bptt) // self.args.bptt

    def schedule_steps(self, epochs: int) -> int:
        return super().schedule_steps(epochs) + 1

    def batches(self, epoch: int):
        # A new random offset each epoch so chunk boundaries move; state is carried between chunks (TBPTT).
        bptt = self.args.bptt
        offset = int(torch.randint(0, bptt, (1,), generator=common.epoch_generator(self.args.seed, epoch)))
        rows = streams(self.train_ids, self.args.batch_size, offset)
        rows = distributed.shard(rows)  # this rank's streams; all of them when alone
        self.carry = self.model.initial_state(len(rows))
        for s in range(self.steps_per_epoch()):
            i = s * bptt
            yield rows[:, i : i + bptt], rows[:, i + 1 : i + bptt + 1]

    def loss(self, model: CharLSTM, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        h, c = self.carry
        logits, self.carry = model(x, (h.detach().to(x.device), c.detach().to(x.device)))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), {}

    def validate(self, model: CharLSTM) -> dict[str, float]:
        return {"val_loss": val_loss_torch(model, self.val_ids)}

    def run_record(self) -> dict[str, Any]:
        return {**super().run_record(), "bptt": self.args.bptt, "grad_clip": self.args.grad_clip}

    # --- export and evaluate --------------------------------------------------------------------------------------

    def export_graphs(self, model: CharLSTM, out: Path) -> dict[str, Path]:
        h, c = model.initial_state(2)
        step_path, prefill_path = out / "step.onnx", out / "prefill.onnx"
        step_in = (torch.zeros(2, dtype=torch.long), h, c)
        export_onnx(CharLSTMStep(model), step_in, step_path, *IO, {"tokens": {0: "batch"}, **AXES})
        prefill_in = (torch.zeros(2, 5, dtype=torch.long), h, c)
        export_onnx(CharLSTMPrefill(model), prefill_in, prefill_path, *IO, {"tokens": {0: "batch", 1: "time"}, **AXES})
        return {"step": step_path, "prefill": prefill_path}

    def manifest_extras(self, model: CharLSTM, out: Path) -> dict[str, Any]:
        cfg = model.config
        diffs = check_parity(model, out / "step.onnx", out / "prefill.onnx", cfg.vocab_size)
        print(f"parity: {diffs}")
        val = self.limited(self.corpus.val)
        loss = val_loss_onnx(out / "step.onnx", val, cfg.num_layers, cfg.hidden_size)
        print(f"onnxruntime validation loss over {len(val)} characters: {loss:.4f} nats/char")
        return {
            "vocab": self.corpus.vocab,
            "state": {"num_layers": cfg.num_layers, "hidden_size": cfg.hidden_size, "names": ["h", "c"]},
            "metrics": {
                "val_loss_nats_per_char": round(loss, 4),
                "val_bits_per_char": round(loss / math.log(2), 4),
                "val_characters": int(len(val)),
                "parameters": sum(p.numel() for p in model.parameters()),
            },
            "parity": diffs,
        }

    def reference(self, model: CharLSTM, out: Path) -> tuple[str, dict[str, np.ndarray]]:
        zeros = np.zeros((model.config.num_layers, 1, model.config.hidden_size), np.float32)
        return "step", {"tokens": np.array([self.corpus.vocab.index("R")], np.int64), "h": zeros, "c": zeros}

    def dataset(self) -> dict[str, Any]:
        return {"name": "Tiny Shakespeare", "files": shakespeare.checksums(), "split": "first 90% train, last 10% val"}

    def workload(self, folder: Path, manifest: dict[str, Any]) -> quantize.Workload:
        session = cpu_session(folder / manifest["graphs"]["step"]["file"])
        return quantize.Workload("tokens/s (16 streams, 64 steps each)", lambda: greedy_tokens(session, manifest))

    def test_scores(self, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        val, state = self.limited(self.corpus.val), manifest["state"]
        loss = val_loss_onnx(folder / "step.onnx", val, state["num_layers"], state["hidden_size"])
        return {"val_characters": len(val), "val_loss_nats_per_char": loss}
