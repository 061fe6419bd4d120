"""Translator runtime: tokenize (Hugging Face tokenizers) -> encoder graph -> beam search over the step graph."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from service.decoding.beam import beam_search
from service.runtimes.base import ArtifactError, ModelRuntime

MAX_SOURCE_TOKENS = 200


@dataclass(frozen=True)
class Translation:
    text: str
    score: float  # length-normalised log-probability
    source_tokens: list[str]
    target_tokens: list[str]
    attention: np.ndarray | None  # (target tokens, source tokens)


class TranslatorRuntime(ModelRuntime):
    task = "translate"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        m = self.manifest
        if not (m.languages and m.tokenizers and m.special_tokens) or set(m.graphs) != {"encoder", "decoder_step"}:
            raise ArtifactError("a translate manifest needs languages, tokenizers, special_tokens and 2 graphs")
        self.source, self.target = m.languages.source, m.languages.target
        self.src_tok = Tokenizer.from_file(str(self.folder / m.tokenizers.source))
        self.tgt_tok = Tokenizer.from_file(str(self.folder / m.tokenizers.target))
        self.special = m.special_tokens
        self.default_beam = int(m.decoding.get("beam_size", 5))
        self.alpha = float(m.decoding.get("alpha", 1.0))

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """-> padded ids (B, S), lengths (B,), subword strings per text."""
        encs = [self.src_tok.encode(t) for t in texts]
        ids = [e.ids[:MAX_SOURCE_TOKENS] or [self.special.pad] for e in encs]
        tokens = np.full((len(ids), max(map(len, ids))), self.special.pad, np.int64)
        for r, row in enumerate(ids):
            tokens[r, : len(row)] = row
        return tokens, np.array([len(r) for r in ids], np.int64), [e.tokens[:MAX_SOURCE_TOKENS] for e in encs]

    def translate(
        self, texts: list[str], beam_size: int, max_length: int | None = None, return_attention: bool = False
    ) -> list[Translation]:
        tokens, lengths, pieces = self.encode(texts)
        memory, keys, mask, state = self.sessions["encoder"].run(None, {"tokens": tokens, "lengths": lengths})
        step_session = self.sessions["decoder_step"]

        def step(tok: np.ndarray, st: np.ndarray, sent: np.ndarray):
            feeds = {"tokens": tok, "state": st, "memory": memory[sent], "keys": keys[sent], "mask": mask[sent]}
            logp, st, attn = step_session.run(None, feeds)
            return logp, st, attn

        limits = [max_length or int(2 * n + 10) for n in lengths]
        hyps = beam_search(
            step, state, self.special.bos, self.special.eos, beam_size, limits, self.alpha, return_attention
        )
        out = []
        for h, src_pieces, n in zip(hyps, pieces, lengths, strict=True):
            attn = None
            if return_attention and h.attention and memory.shape[1] == tokens.shape[1]:
                attn = np.stack(h.attention)[: len(h.tokens), :n]  # (T, S): the EOS row and padding dropped
            out.append(
                Translation(
                    text=self.tgt_tok.decode(h.tokens),
                    score=h.normalized,
                    source_tokens=src_pieces,
                    target_tokens=[self.tgt_tok.id_to_token(i) for i in h.tokens],
                    attention=attn,
                )
            )
        return out
