"""What a runtime declares so that the engine can batch it: the types both import, with no cycle between them.

A runtime names the method the engine batches across requests (`batch_call`), or describes its decoder step
(`StepSpec`) so that the engine's scheduler can advance all live sequences together, or both (the captioner:
its encoder is batched, its decoder steps are scheduled), or neither (served as it is, one call a request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Axes:
    batch: int = 0
    pad: int | None = None  # an axis whose length differs between jobs (padded with zeros to the longest)


@dataclass(frozen=True)
class StepSpec:
    """One decoder step graph: its inputs and outputs with their batch (and padded) axes, the recurrent state
    the engine keeps between steps, and what the engine reduces the scored output to right after each step."""

    graph: str  # the manifest's key of the step graph
    inputs: dict[str, Axes]
    outputs: dict[str, Axes]
    state: dict[str, str]  # state input -> the step output that carries it to the next step
    scored: str | None = None  # the output the reducer reads (log-probs or logits over the vocabulary)
    # "top_k": each row's best tokens, for beam searches; "sample": each row's next token drawn with its
    # own generator and sampling parameters, for generation. Both run in the engine's worker thread.
    reduce: Literal["top_k", "sample"] | None = None
    state_axes: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        unknown = set(self.state) - set(self.inputs)
        if unknown or not set(self.state.values()) <= set(self.outputs):
            raise ValueError(f"step {self.graph!r}: state {self.state} must pair step inputs with step outputs")
        if (self.scored is None) != (self.reduce is None) or (self.scored and self.scored not in self.outputs):
            raise ValueError(f"step {self.graph!r}: `scored` names a step output exactly when `reduce` is set")
        object.__setattr__(self, "state_axes", {k: self.inputs[k].batch for k in self.state})


EngineKind = Literal["batch", "steps", "batch+steps", "direct"]


def engine_kind(batch: bool, steps: bool) -> EngineKind:
    if batch and steps:
        return "batch+steps"
    return "batch" if batch else "steps" if steps else "direct"
