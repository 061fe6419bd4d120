"""Tiny Shakespeare reader and char-LSTM export parity (batch 1 and 16, a 50-step rollout)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.checksums import DatasetError
from training.data import shakespeare
from training.export import ParityError, export_onnx
from training.models.char_lstm import CharLSTM, CharLSTMConfig, CharLSTMPrefill, CharLSTMStep
from training.tasks.charlstm_shakespeare import check_parity, streams, val_loss_torch


def test_corpus_split_and_vocab(data_dir):
    corpus = shakespeare.load(data_dir)
    assert len(corpus.vocab) == 65 and corpus.vocab[0] == "\n" and corpus.vocab[1] == " "
    assert len(corpus.train) == 1_003_854 and len(corpus.train) + len(corpus.val) == 1_115_394
    assert "".join(corpus.vocab[i] for i in corpus.train[:14]) == "First Citizen:"


def test_missing_corpus(tmp_path):
    with pytest.raises(DatasetError, match="missing dataset file .*input.txt"):
        shakespeare.load(tmp_path)


def test_streams_are_contiguous():
    rows = streams(np.arange(103), 4)
    assert rows.shape == (4, 25) and rows[1, 0] == 25 and rows[3, -1] == 99


def small_model() -> CharLSTM:
    torch.manual_seed(0)
    return CharLSTM(CharLSTMConfig(vocab_size=65, embed_dim=16, hidden_size=32, num_layers=2, dropout=0.0)).eval()


def export_pair(model: CharLSTM, tmp_path):
    h, c = model.initial_state(2)
    axes = {"h": {1: "b"}, "c": {1: "b"}, "logits": {0: "b"}, "h_out": {1: "b"}, "c_out": {1: "b"}}
    names = (["tokens", "h", "c"], ["logits", "h_out", "c_out"])
    step, prefill = tmp_path / "step.onnx", tmp_path / "prefill.onnx"
    export_onnx(
        CharLSTMStep(model), (torch.zeros(2, dtype=torch.long), h, c), step, *names, {"tokens": {0: "b"}, **axes}
    )
    export_onnx(
        CharLSTMPrefill(model), (torch.zeros(2, 5, dtype=torch.long), h, c), prefill, *names,
        {"tokens": {0: "b", 1: "t"}, **axes},
    )  # fmt: skip
    return step, prefill


def test_export_parity_batches_lengths_and_rollout(tmp_path):
    model = small_model()
    step, prefill = export_pair(model, tmp_path)
    diffs = check_parity(model, step, prefill, 65)
    assert set(diffs) >= {"step_b1", "step_b16", "prefill_b16_t33", "rollout_50"}
    assert max(diffs.values()) <= 1e-4


def test_parity_check_catches_a_different_model(tmp_path):
    model = small_model()
    step, prefill = export_pair(model, tmp_path)
    with torch.no_grad():
        model.head.bias += 0.01
    with pytest.raises(ParityError):
        check_parity(model, step, prefill, 65)


def test_untrained_loss_is_log_vocab():
    model = CharLSTM(CharLSTMConfig(vocab_size=65, embed_dim=8, hidden_size=16, num_layers=1, dropout=0.0)).eval()
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    with torch.no_grad():
        loss = val_loss_torch(model, np.arange(2000) % 65)
    assert loss == pytest.approx(np.log(65), abs=1e-5)
