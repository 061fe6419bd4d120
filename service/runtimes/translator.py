"""Translator runtime: tokenize (Hugging Face tokenizers) -> encoder graph -> beam search over the step graph."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from tokenizers import Tokenizer

from core.decoding.beam import BeamJob, BeamSearch
from core.preprocessing.sentences import Sentences, split
from service.runtimes.base import ArtifactError, ModelRuntime
from service.runtimes.spec import Axes, StepSpec

MAX_SOURCE_TOKENS = 200
# Source-length axes (memory, keys, mask, attention) differ between requests: padded, and masked out.
STEP = StepSpec(
    graph="decoder_step",
    inputs={"tokens": Axes(0), "state": Axes(0), "memory": Axes(0, 1), "keys": Axes(0, 1), "mask": Axes(0, 1)},
    outputs={"log_probs": Axes(0), "state_out": Axes(0), "attention": Axes(0, 1)},
    state={"state": "state_out"},
    scored="log_probs",
    reduce="top_k",
)


@dataclass(frozen=True)
class Translation:
    text: str
    score: float  # length-normalised log-probability
    source_tokens: list[str]
    target_tokens: list[str]
    attention: np.ndarray | None  # (target tokens, source tokens)


def joined(text: str, parts: list[Translation]) -> Translation:
    """A text's translation from its sentences': tokens in order, the score their token-weighted mean, and the
    attention block-diagonal (each sentence was read alone)."""
    if len(parts) == 1:
        return replace(parts[0], text=text)
    weights = [max(len(p.target_tokens), 1) for p in parts]
    score = sum(w * p.score for w, p in zip(weights, parts, strict=True)) / sum(weights)
    attention = None
    if all(p.attention is not None for p in parts):
        blocks = [p.attention for p in parts]
        attention = np.zeros((sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)), np.float32)
        r = c = 0
        for b in blocks:
            attention[r : r + b.shape[0], c : c + b.shape[1]] = b
            r, c = r + b.shape[0], c + b.shape[1]
    source = [t for p in parts for t in p.source_tokens]
    return Translation(text, score, source, [t for p in parts for t in p.target_tokens], attention)


@dataclass(frozen=True)
class Encoded:
    """A request's sentences after the encoder graph: one row per sentence of its texts."""

    lengths: np.ndarray  # (B,) source tokens
    pieces: list[list[str]]  # subword strings per sentence
    memory: np.ndarray  # (B, S, D)
    keys: np.ndarray  # (B, S, A)
    mask: np.ndarray  # (B, S)
    state: np.ndarray  # (B, H) initial decoder state
    attends_source: bool  # False for the attention-free model, whose memory is the single context C
    sentences: Sentences  # what each row read, the text it came from, and how its translation is cased back


class TranslationJob(BeamJob):
    """One request's beam search between decoder steps; its rows are the live hypotheses of its sentences."""

    def __init__(self, enc: Encoded, search: BeamSearch) -> None:
        super().__init__(search)
        self.enc = enc

    def feeds(self) -> dict[str, np.ndarray]:
        s, e = self.search, self.enc
        return {"tokens": s.last, "state": s.state, "memory": e.memory[s.sent], "keys": e.keys[s.sent],
                "mask": e.mask[s.sent]}  # fmt: skip


class TranslatorRuntime(ModelRuntime):
    task = "translate"
    step_spec = STEP

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

    def warm_up(self) -> None:
        self.translate(["A man is riding a bike.", "Two dogs play in the snow near a red house."], 5)

    def encode(self, texts: list[str]) -> Encoded:
        sentences = split(texts, self.source)
        encs = [self.src_tok.encode(t) for t in sentences.texts]
        ids = [e.ids[:MAX_SOURCE_TOKENS] or [self.special.pad] for e in encs]
        tokens = np.full((len(ids), max(map(len, ids))), self.special.pad, np.int64)
        for r, row in enumerate(ids):
            tokens[r, : len(row)] = row
        lengths = np.array([len(r) for r in ids], np.int64)
        memory, keys, mask, state = self.sessions["encoder"].run(None, {"tokens": tokens, "lengths": lengths})
        pieces = [e.tokens[:MAX_SOURCE_TOKENS] for e in encs]
        return Encoded(lengths, pieces, memory, keys, mask, state, memory.shape[1] == tokens.shape[1], sentences)

    def job(self, enc: Encoded, beam_size: int, max_length: int | None, attention: bool) -> TranslationJob:
        limits = [max_length or int(2 * n + 10) for n in enc.lengths]
        sp = self.special
        return TranslationJob(enc, BeamSearch(enc.state, sp.bos, sp.eos, beam_size, limits, self.alpha, attention))

    def results(self, job: TranslationJob, return_attention: bool) -> list[Translation]:
        """One translation per text of the request, put together from its sentences' best hypotheses."""
        parts = []
        enc = job.enc
        for h, pieces, n in zip(job.search.best(), enc.pieces, enc.lengths, strict=True):
            attn = None
            if return_attention and h.attention and enc.attends_source:
                attn = np.stack(h.attention)[: len(h.tokens), :n]  # (T, S): the EOS row dropped
            target = [self.tgt_tok.id_to_token(i) for i in h.tokens]
            parts.append(Translation(self.tgt_tok.decode(h.tokens), h.normalized, pieces, target, attn))
        texts = enc.sentences.join([p.text for p in parts])
        return [joined(t, [parts[i] for i in g]) for t, g in zip(texts, enc.sentences.groups(), strict=True)]

    def translate(
        self, texts: list[str], beam_size: int, max_length: int | None = None, return_attention: bool = False
    ) -> list[Translation]:
        """Unbatched: encode, then run the beam search to the end with direct decoder calls."""
        job = self.job(self.encode(texts), beam_size, max_length, return_attention)
        while not job.done:
            job.update(self.run_step(job.feeds()))
        return self.results(job, return_attention)
