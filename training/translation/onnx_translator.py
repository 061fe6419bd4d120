"""Translation with the exported graphs, the way the server translates, and corpus BLEU / chrF of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU, CHRF
from sacremoses import MosesTokenizer
from tokenizers import Tokenizer

from core.decoding.beam import BeamSearch
from core.decoding.top_k import TopK
from core.preprocessing.sentences import as_written, split
from training.export import cpu_session
from training.tokenization import BOS, EOS, decode, encode
from training.translation.batching import MAX_LEN


class OnnxTranslator:
    """Beam search over the exported graphs with the service's own decoding code: what users will get."""

    def __init__(self, folder: Path, source: str, prepare: bool = True) -> None:
        self.source = source  # the source language, for splitting texts into sentences
        # the service's sentence splitting and case handling (core.preprocessing.sentences); off only to measure it
        self.prepare = prepare
        self.enc = cpu_session(folder / "encoder.onnx")
        self.dec = cpu_session(folder / "decoder_step.onnx")
        self.top_k = TopK()  # the engine's; NumPy's argpartition costs as much as an int8 decoder step
        self.src_tok = Tokenizer.from_file(str(folder / "src_tokenizer.json"))
        self.tgt_tok = Tokenizer.from_file(str(folder / "tgt_tokenizer.json"))

    def translate(self, texts: list[str], beam_size: int, alpha: float) -> list[str]:
        sentences = split(texts, self.source, max_sentences=None) if self.prepare else as_written(texts)
        ids = [encode(self.src_tok, t)[:MAX_LEN] or [3] for t in sentences.texts]
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
        hyps = BeamSearch(state, bos, eos, beam_size, [2 * len(r) + 10 for r in ids], alpha).run(step, self.top_k)
        return sentences.join([decode(self.tgt_tok, h.tokens) for h in hyps])


def corpus_scores(
    translator: OnnxTranslator, src: list[str], ref: list[str], beam: int, alpha: float, lang: str
) -> dict:
    """sacreBLEU and chrF (cased, detokenised: the signature says how), and the tokenised lower-cased BLEU of the
    Multi30k literature (`tokenized_bleu`), of the translations of `src` into `lang` against one reference each."""
    hyps: list[str] = []
    for k in range(0, len(src), 64):
        hyps += translator.translate(src[k : k + 64], beam, alpha)
    bleu, chrf = BLEU(), CHRF()
    return {
        "bleu": round(bleu.corpus_score(hyps, [ref]).score, 2),
        "chrf": round(chrf.corpus_score(hyps, [ref]).score, 2),
        "bleu_tokenized": tokenized_bleu(hyps, ref, lang),
        "signature": str(bleu.get_signature()),
        "hypotheses": hyps,
    }


def tokenized_bleu(hyps: list[str], refs: list[str], lang: str) -> float:
    """BLEU as multi-bleu.perl computes it on Moses-tokenised, lower-cased text: what published Multi30k tables
    report (Elliott et al. 2016 and the WMT multimodal task); sacreBLEU's own tokeniser is switched off."""
    tok = MosesTokenizer(lang=lang)

    def prepare(texts: list[str]) -> list[str]:
        return [tok.tokenize(t, escape=False, return_str=True).lower() for t in texts]

    return round(BLEU(tokenize="none", force=True).corpus_score(prepare(hyps), [prepare(refs)]).score, 2)
