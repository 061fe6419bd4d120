"""Training batches for the translators: buckets, padding and shifted decoder inputs, BPE dropout."""

from __future__ import annotations

import random

import torch

from training.tokenization import decode, encode, train_bpe
from training.translation.batching import buckets, collate, tokenized

LINES = ["A man is riding a bike down the street.", "Two dogs play in the snow.", "A girl in a pink dress sings.",
         "People are walking near an orange building.", "A child jumps into the water."] * 4  # fmt: skip


def test_buckets_cover_every_sentence_once_in_batches_of_similar_length():
    src = [[5] * n for n in range(1, 41)]
    batches = buckets(src, src, batch_size=8, rng=random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(40)) and all(len(b) == 8 for b in batches)
    assert all(max(len(src[i]) for i in b) - min(len(src[i]) for i in b) == 7 for b in batches)  # one pool, sorted


def test_collate_pads_with_zero_and_shifts_the_decoder_input_by_bos():
    s, lengths, y_in, y_out = collate([[7, 8, 9], [7]], [[4, 5], [6]], [0, 1], bos=1, eos=2)
    assert s.tolist() == [[7, 8, 9], [7, 0, 0]] and lengths.tolist() == [3, 1]
    assert y_in.tolist() == [[1, 4, 5], [1, 6, 0]] and y_out.tolist() == [[4, 5, 2], [6, 2, 0]]
    assert s.dtype == torch.long


def test_bpe_dropout_resamples_segmentations_of_the_same_text_and_leaves_the_tokenizer_alone():
    tok = train_bpe(LINES, vocab_size=120)
    fixed = tokenized(tok, LINES)
    assert fixed == [encode(tok, line) for line in LINES]  # the segmentation the service uses
    noisy = tokenized(tok, LINES, dropout=0.5)
    assert len(noisy) == len(LINES) and noisy != fixed
    assert sum(len(a) for a in noisy) > sum(len(a) for a in fixed)  # skipped merges: more, shorter pieces
    assert [decode(tok, ids) for ids in noisy] == [decode(tok, ids) for ids in fixed]  # same text
    assert all(0 <= i < tok.get_vocab_size() for ids in noisy for i in ids)
    assert tok.model.dropout is None and tokenized(tok, LINES) == fixed
