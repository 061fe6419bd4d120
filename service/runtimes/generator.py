"""Character-level generator runtime: prompt -> prefill graph -> step graph, one character at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from core.decoding.sampling import SamplingParams, sample
from core.decoding.stops import StopMatcher
from service.errors import InvalidInput
from service.runtimes.base import ArtifactError, ModelRuntime
from service.runtimes.spec import Axes, StepSpec

State = tuple[np.ndarray, np.ndarray]  # h, c: (L, B, H) each
# What phones and word processors type in place of plain characters: read as those when the vocabulary lacks
# them (Tiny Shakespeare has only the plain apostrophe and hyphen), rather than refusing the prompt.
TYPOGRAPHIC = {"\u2018": "'", "\u2019": "'", "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ",
               "\t": " ", "\r": "\n"}  # fmt: skip
STEP = StepSpec(
    graph="step",
    inputs={"tokens": Axes(0), "h": Axes(1), "c": Axes(1)},  # LSTM state: (layers, rows, hidden)
    outputs={"logits": Axes(0), "h_out": Axes(1), "c_out": Axes(1)},
    state={"h": "h_out", "c": "c_out"},
    scored="logits",
    reduce="sample",
)


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


class GenerationJob:
    """One generation between steps: last token, LSTM state, its own RNG and stop matcher.

    `emit` receives text pieces as they become safe to send (stop sequences held back), then a Finish.
    The same job runs alone (`GeneratorRuntime.generate`: it samples its own logits) or inside the engine's
    scheduler (the scheduler's `StepSampler` draws its token with the job's own generator, bit for bit the draw
    it would make alone), so batching never changes what a seed produces.
    """

    rows = 1
    keep = np.zeros(1, np.int64)  # its one row always continues (a finished job leaves the scheduler)

    def __init__(self, runtime: GeneratorRuntime, req: GenerationRequest, emit: Callable[[str | Finish], None]) -> None:
        self.runtime, self.req, self.emit = runtime, req, emit
        self.ids = runtime.encode(req.prompt)
        self.rng = [np.random.default_rng(req.seed)]
        self.stops = StopMatcher(list(req.stop))
        self.n = 0
        self.done = False
        self.token = np.zeros(1, np.int64)
        self.h = self.c = np.zeros(0, np.float32)
        runtime.stats.add(active=1)

    @property
    def sampling(self) -> SamplingParams:
        return self.req.sampling

    def begin(self, logits: np.ndarray, state: State) -> None:
        """Take the prompt's prefill output and sample the first character."""
        self.h, self.c = state
        self._sample(logits)

    def feeds(self) -> dict[str, np.ndarray]:
        return {"tokens": self.token, "h": self.h, "c": self.c}

    def update(self, outputs: dict[str, np.ndarray]) -> None:
        if "h_out" in outputs:  # not when the engine keeps the state
            self.h, self.c = outputs["h_out"], outputs["c_out"]
        if "sampled" in outputs:  # the engine's StepSampler drew this row's token with our generator
            self._advance(outputs["sampled"])
        else:
            self._sample(outputs["logits"])

    def _sample(self, logits: np.ndarray) -> None:
        self._advance(sample(logits, self.req.sampling, self.rng))

    def _advance(self, token: np.ndarray) -> None:
        self.token = np.asarray(token, np.int64).reshape(1)
        self.n += 1
        self.runtime.stats.add(steps=1)
        piece = self.stops.push(self.runtime.vocab[int(self.token[0])])
        if piece:
            self.emit(piece)
        if self.stops.stopped:
            self._end(Finish("stop", self.n))
        elif self.n >= self.req.max_tokens:
            rest = self.stops.flush()
            if rest:
                self.emit(rest)
            self._end(Finish("length", self.n))

    def _end(self, finish: Finish) -> None:
        self.emit(finish)
        self.close()

    def close(self) -> None:
        """Finished or abandoned: it leaves the active count once."""
        if not self.done:
            self.done = True
            self.runtime.stats.add(active=-1)


class GeneratorRuntime(ModelRuntime):
    task = "generate"
    step_spec = STEP

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.manifest.vocab or not self.manifest.state or "step" not in self.manifest.graphs:
            raise ArtifactError("a generate manifest needs vocab, state and a 'step' graph")
        self.vocab = self.manifest.vocab
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        self.layers = int(self.manifest.state["num_layers"])
        self.hidden = int(self.manifest.state["hidden_size"])
        self.stats = GeneratorStats()

    def warm_up(self) -> None:
        self.prefill(np.zeros((1, 32), np.int64), self.initial_state(1))
        for batch in (1, 16):
            self.step(np.zeros(batch, np.int64), self.initial_state(batch))

    def encode(self, prompt: str) -> np.ndarray:
        prompt = "".join(ch if ch in self.index else TYPOGRAPHIC.get(ch, ch) for ch in prompt.replace("\r\n", "\n"))
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

    def activity(self) -> dict[str, int]:
        return {"active_generations": self.stats.active, "generated_tokens": self.stats.steps}

    def start(self, req: GenerationRequest, emit: Callable[[str | Finish], None]) -> GenerationJob:
        """A job with the prompt prefilled and its first character sampled (runs the prefill graph)."""
        job = GenerationJob(self, req, emit)
        try:
            job.begin(*self.prefill(job.ids[None], self.initial_state(1)))
        except BaseException:
            job.close()
            raise
        return job

    def generate(self, req: GenerationRequest) -> Iterator[str | Finish]:
        """Unbatched generation: yield text pieces, then a Finish. Stopping the iteration stops the work."""
        out: list[str | Finish] = []
        job = self.start(req, out.append)
        try:
            while True:
                yield from out
                out.clear()
                if job.done:
                    return
                job.update(self.run_step(job.feeds()))
        finally:
            job.close()
