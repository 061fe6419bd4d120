"""Character-level generator runtime: prompt -> prefill graph -> step graph, one character at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from service.decoding.sampling import SamplingParams, sample
from service.decoding.stops import StopMatcher
from service.errors import InvalidInput
from service.runtimes.base import ArtifactError, ModelRuntime

State = tuple[np.ndarray, np.ndarray]  # h, c: (L, B, H) each


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    max_tokens: int
    sampling: SamplingParams
    seed: int
    stop: tuple[str, ...] = ()


@dataclass
class Finish:
    reason: str  # "length" or "stop"
    tokens: int  # characters sampled, stop sequence included


class GeneratorStats:
    """Live counters, so that work for a vanished client can be seen to stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.steps = 0

    def add(self, active: int = 0, steps: int = 0) -> None:
        with self._lock:
            self.active += active
            self.steps += steps


class GeneratorRuntime(ModelRuntime):
    task = "generate"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.manifest.vocab or not self.manifest.state or "step" not in self.manifest.graphs:
            raise ArtifactError("a generate manifest needs vocab, state and a 'step' graph")
        self.vocab = self.manifest.vocab
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        self.layers = int(self.manifest.state["num_layers"])
        self.hidden = int(self.manifest.state["hidden_size"])
        self.stats = GeneratorStats()

    def encode(self, prompt: str) -> np.ndarray:
        unknown = sorted(set(prompt) - self.index.keys())
        if unknown:
            allowed = "".join(self.vocab).replace("\n", "\\n")
            raise InvalidInput(
                f"prompt has characters outside the model's vocabulary: {unknown}; allowed characters: {allowed!r}"
            )
        return np.array([self.index[ch] for ch in prompt], dtype=np.int64)

    def initial_state(self, batch: int) -> State:
        zeros = np.zeros((self.layers, batch, self.hidden), np.float32)
        return zeros, zeros.copy()

    def prefill(self, ids: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """(B, T) prompt ids -> logits after the last one (B, V) and the state."""
        if "prefill" in self.sessions:
            logits, h, c = self.sessions["prefill"].run(None, {"tokens": ids, "h": state[0], "c": state[1]})
            return logits, (h, c)
        for t in range(ids.shape[1]):
            logits, state = self.step(ids[:, t], state)
        return logits, state

    def step(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """(B,) ids -> (B, V) logits and the next state."""
        logits, h, c = self.sessions["step"].run(None, {"tokens": tokens, "h": state[0], "c": state[1]})
        return logits, (h, c)

    def generate(self, req: GenerationRequest) -> Iterator[str | Finish]:
        """Yield text pieces as they become safe to emit (stop sequences held back), then a Finish.

        A consumer that stops iterating stops the work: each character is computed only when asked for.
        """
        ids = self.encode(req.prompt)
        rng = [np.random.default_rng(req.seed)]
        stops = StopMatcher(list(req.stop))
        self.stats.add(active=1)
        try:
            logits, state = self.prefill(ids[None], self.initial_state(1))
            for n in range(1, req.max_tokens + 1):
                token = sample(logits, req.sampling, rng)
                self.stats.add(steps=1)
                piece = stops.push(self.vocab[int(token[0])])
                if piece:
                    yield piece
                if stops.stopped:
                    yield Finish("stop", n)
                    return
                if n < req.max_tokens:
                    logits, state = self.step(token, state)
            rest = stops.flush()
            if rest:
                yield rest
            yield Finish("length", req.max_tokens)
        finally:
            self.stats.add(active=-1)
