"""Subword tokenizers (Hugging Face `tokenizers`): BPE over Metaspace words with punctuation split off.

The saved tokenizer.json is what the service loads with the same library, so encoding and detokenization
are identical in training and serving. Case is kept: BLEU is case-sensitive.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = [PAD, BOS, EOS, UNK]  # ids 0, 1, 2, 3


def train_bpe(sentences: Iterable[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(prepend_scheme="always"), pre_tokenizers.Punctuation()]
    )
    tok.decoder = decoders.Metaspace(prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False)
    tok.train_from_iterator(sentences, trainer=trainer)
    return tok


def encode(tok: Tokenizer, text: str) -> list[int]:
    return tok.encode(text).ids


def decode(tok: Tokenizer, ids: Iterable[int]) -> str:
    return tok.decode([i for i in ids if i >= len(SPECIALS)])


def train_words(sentences: Iterable[str], min_frequency: int) -> Tokenizer:
    """A word-level vocabulary (captions): lowercased, punctuation dropped, words seen >= min_frequency times.

    Decoding joins words with single spaces, which is also how the references are normalised for scoring.
    """
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace(Regex(r"[^a-z0-9\s]+"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(min_frequency=min_frequency, special_tokens=SPECIALS, show_progress=False)
    tok.train_from_iterator(sentences, trainer=trainer)
    return tok


def words(tok: Tokenizer, text: str) -> list[str]:
    """The normalised words of a text, before any vocabulary lookup (so unknown words stay themselves)."""
    return [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))]
