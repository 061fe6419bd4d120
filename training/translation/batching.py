"""Multi30k sentence pairs as training batches: length-bucketed, padded with 0, decoder inputs shifted by BOS.

BPE dropout (Provilkov et al. 2020, `tokenized(..., dropout)`) draws a fresh segmentation of every training
sentence each epoch, so the model sees each word split in several ways: a regulariser for small corpora like
Multi30k.
Validation, export and serving always use the deterministic segmentation.
"""

from __future__ import annotations

import random

import torch
from tokenizers import Tokenizer

from training.tokenization import UNK

MAX_LEN = 80  # subword tokens; longer training sentences are truncated (none in Multi30k train exceed it)


def buckets(src: list[list[int]], tgt: list[list[int]], batch_size: int, rng: random.Random):
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


def tokenized(tok: Tokenizer, lines: list[str], dropout: float = 0.0) -> list[list[int]]:
    """Each line's subword ids, truncated to MAX_LEN (an empty line becomes <unk>). With `dropout` > 0, BPE
    dropout: each merge is skipped with that probability (the tokenizers library's own random draw, not seeded),
    on a copy of `tok`, which itself is left unchanged."""
    if dropout > 0:
        tok = Tokenizer.from_str(tok.to_str())
        tok.model.dropout = dropout
    return [e.ids[:MAX_LEN] or [tok.token_to_id(UNK)] for e in tok.encode_batch(lines)]
