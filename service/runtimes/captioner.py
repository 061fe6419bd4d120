"""Captioner runtime: photos -> encoder graph (region features, attention keys, initial state) -> beam search
over the decoder step graph, in words of the model's vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from tokenizers import Tokenizer

from core.decoding.beam import BeamJob, BeamSearch, Hypothesis
from service.runtimes.base import ArtifactError, ModelRuntime
from service.runtimes.spec import Axes, StepSpec

ENCODER_OUTPUTS = ("regions", "keys", "state")
STEP = StepSpec(
    graph="decoder_step",
    inputs={"tokens": Axes(0), "state": Axes(0), "regions": Axes(0), "keys": Axes(0)},
    outputs={"log_probs": Axes(0), "state_out": Axes(0), "attention": Axes(0)},
    state={"state": "state_out"},
    scored="log_probs",
    reduce="top_k",
)


@dataclass(frozen=True)
class Caption:
    text: str
    score: float  # length-normalised log-probability
    words: list[str]
    attention: np.ndarray | None  # (words, regions)


@dataclass(frozen=True)
class CaptionResult:
    best: Caption
    alternatives: list[Caption]


class CaptionJob(BeamJob):
    """One request's beam search over its photos; rows are the live hypotheses."""

    def __init__(self, encoded: dict[str, np.ndarray], search: BeamSearch) -> None:
        super().__init__(search)
        self.encoded = encoded

    def feeds(self) -> dict[str, np.ndarray]:
        s, e = self.search, self.encoded
        return {"tokens": s.last, "state": s.state, "regions": e["regions"][s.sent], "keys": e["keys"][s.sent]}


class CaptionerRuntime(ModelRuntime):
    task = "caption"
    batch_call = "encode"  # photos from different requests share one encoder call
    step_spec = STEP

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        m = self.manifest
        if m.preprocessing is None or not m.tokenizer or not m.special_tokens:
            raise ArtifactError("a caption manifest needs a preprocessing recipe, a tokenizer and special_tokens")
        if set(m.graphs) != {"encoder", "decoder_step"}:
            raise ArtifactError("a caption model needs the graphs 'encoder' and 'decoder_step'")
        self.recipe = m.preprocessing
        self.tokenizer = Tokenizer.from_file(str(self.folder / m.tokenizer))
        self.special = m.special_tokens
        self.default_beam = int(m.decoding.get("beam_size", 3))
        self.alpha = float(m.decoding.get("alpha", 1.0))
        self.max_length = int(m.decoding.get("max_length", 20))

    def v2_parameters(self, graph: str) -> dict[str, Any] | None:
        return {"preprocessing": self.recipe.model_dump()} if graph == "encoder" else None

    def warm_up(self) -> None:
        rng = np.random.default_rng(0)
        for n in (1, 4):
            photos = [Image.fromarray(rng.integers(0, 256, (96, 160, 3), dtype=np.uint8)) for _ in range(n)]
            self.caption(np.stack([self.preprocess(p, "warm-up") for p in photos]), self.default_beam, None, 2)

    def encode(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """(B, 3, crop, crop) -> regions (B, L, D), keys (B, L, A), state (B, 2H)."""
        outs = self.sessions["encoder"].run(list(ENCODER_OUTPUTS), {"image": batch.astype(np.float32)})
        return dict(zip(ENCODER_OUTPUTS, outs, strict=True))

    def job(self, encoded: dict[str, np.ndarray], beam_size: int, max_length: int | None) -> CaptionJob:
        n = len(encoded["state"])
        limits = [max_length or self.max_length] * n
        sp = self.special
        return CaptionJob(encoded, BeamSearch(encoded["state"], sp.bos, sp.eos, beam_size, limits, self.alpha, True))

    def _caption(self, h: Hypothesis) -> Caption:
        words = [self.tokenizer.id_to_token(i) for i in h.tokens]
        attention = np.stack(h.attention)[: len(h.tokens)] if h.attention else None
        return Caption(" ".join(words), h.normalized, words, attention)

    def results(self, job: CaptionJob, alternatives: int) -> list[CaptionResult]:
        out = []
        for finished in job.search.finished:
            ranked = sorted(finished, key=lambda h: -h.normalized)
            out.append(
                CaptionResult(self._caption(ranked[0]), [self._caption(h) for h in ranked[1 : 1 + alternatives]])
            )
        return out

    def caption(
        self, batch: np.ndarray, beam_size: int, max_length: int | None = None, alternatives: int = 0
    ) -> list[CaptionResult]:
        """Unbatched: encode, then run the beam search to the end with direct decoder calls."""
        job = self.job(self.encode(batch), beam_size, max_length)
        while not job.done:
            job.update(self.run_step(job.feeds()))
        return self.results(job, alternatives)
