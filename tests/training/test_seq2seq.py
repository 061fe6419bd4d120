"""The GRU encoder-decoder: padding never changes results, export parity and greedy-decode equality."""

from __future__ import annotations

import pytest
import torch

from training.data import multi30k
from training.models.seq2seq import Seq2Seq, Seq2SeqConfig, reverse_within_length
from training.tokenization import decode, encode, train_bpe
from training.translation.batching import collate
from training.translation.export import check_parity, export_graphs


def tiny(attention: str = "bahdanau") -> Seq2Seq:
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(src_vocab=60, tgt_vocab=50, embed_dim=16, enc_hidden=12, dec_hidden=20, attn_dim=8,
                        out_dim=10, dropout=0.0, attention=attention)  # fmt: skip
    return Seq2Seq(cfg).eval()


def test_reverse_within_length():
    x = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])
    assert reverse_within_length(x, torch.tensor([3, 5])).tolist() == [[3, 2, 1, 0, 0], [8, 7, 6, 5, 4]]


@pytest.mark.parametrize("attention", ["bahdanau", "none"])
def test_padding_does_not_change_results(attention):
    model = tiny(attention)
    sentence = torch.tensor([[5, 9, 14, 22]])
    padded = torch.tensor([[5, 9, 14, 22, 0, 0, 0], [7, 8, 9, 10, 11, 12, 13]])
    prev = torch.tensor([[1, 6, 7], [1, 6, 7]])
    with torch.no_grad():
        alone = model(sentence, torch.tensor([4]), prev[:1])
        batched = model(padded, torch.tensor([4, 7]), prev)
        mem_a = model.encoder(sentence, torch.tensor([4]))[0]
        mem_b = model.encoder(padded, torch.tensor([4, 7]))[0]
    torch.testing.assert_close(alone[0], batched[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(mem_a[0, :4], mem_b[0, :4] if attention == "bahdanau" else mem_b[0], atol=1e-6, rtol=0)


def test_collate_shifts_targets():
    s, lengths, y_in, y_out = collate([[5, 6], [7]], [[10, 11, 12], [13]], [0, 1], bos=1, eos=2)
    assert s.tolist() == [[5, 6], [7, 0]] and lengths.tolist() == [2, 1]
    assert y_in.tolist() == [[1, 10, 11, 12], [1, 13, 0, 0]]
    assert y_out.tolist() == [[10, 11, 12, 2], [13, 2, 0, 0]]


def test_tokenizer_round_trip(data_dir):
    en, _ = multi30k.load_pairs(data_dir, "val", "en", "fr")
    tok = train_bpe(en, 2000)
    assert [tok.token_to_id(t) for t in ("<pad>", "<s>", "</s>", "<unk>")] == [0, 1, 2, 3]
    for line in en[:200]:
        assert decode(tok, encode(tok, line)) == line
    assert 3 in encode(tok, "A man ☃ rides.")  # a character never seen in training becomes <unk>


@pytest.mark.parametrize("attention", ["bahdanau", "none"])
def test_export_parity_and_greedy_equality(tmp_path, attention):
    model = tiny(attention)
    tok = train_bpe(["a man rides a red bike", "two dogs play in the park", "a girl reads a book"] * 20, 60)
    export_graphs(model, tmp_path, bos=1)
    sentences = ["a man rides a red bike", "two dogs", "a girl reads a book in the park"] * 6
    diffs = check_parity(model, tmp_path, tok, sentences, bos=1, eos=2)
    assert set(diffs) == {f"{g}_b{b}" for g in ("encoder", "step") for b in (1, 5, 16)}
    assert max(diffs.values()) <= 1e-4


def test_tied_embeddings_share_one_matrix_start_small_and_export_with_parity(tmp_path):
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(src_vocab=60, tgt_vocab=50, embed_dim=16, enc_hidden=12, dec_hidden=20, attn_dim=8,
                        out_dim=16, dropout=0.0, tie_embeddings=True)  # fmt: skip
    model = Seq2Seq(cfg).eval()
    assert model.decoder.out.weight is model.decoder.embed.weight
    assert model.decoder.embed.weight[0].abs().sum() == 0  # the pad row
    assert model.decoder.embed.weight.std() < 0.5  # not N(0, 1): the first logits stay near uniform
    tok = train_bpe(["a man rides a red bike", "two dogs play in the park"] * 20, 60)
    export_graphs(model, tmp_path, bos=1)
    diffs = check_parity(model, tmp_path, tok, ["a man rides", "two dogs play in the park"] * 8, bos=1, eos=2)
    assert max(diffs.values()) <= 1e-4
    with pytest.raises(ValueError, match="out_dim == embed_dim"):
        Seq2Seq(Seq2SeqConfig(embed_dim=16, out_dim=10, tie_embeddings=True))
