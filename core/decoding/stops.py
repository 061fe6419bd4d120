"""Stop sequences for streamed text: hold back only what could still become a stop sequence."""

from __future__ import annotations


class StopMatcher:
    """Feed generated text piece by piece; `push` returns the text that is safe to emit now.

    The concatenation of everything emitted equals the full text cut before the first stop sequence, so a
    streamed generation and a non-streamed one give the same text.
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False

    def push(self, piece: str) -> str:
        self.pending += piece
        cut = min((i for i in (self.pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self.pending = self.pending[:cut], ""
            return out
        hold = 0  # the longest tail of pending that is a proper prefix of some stop sequence
        for s in self.stops:
            for n in range(min(len(s) - 1, len(self.pending)), hold, -1):
                if self.pending.endswith(s[:n]):
                    hold = n
                    break
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(out) :]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out
