"""Admission control: a bounded number of requests queued or running per model; beyond it, 429 at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from service.errors import Overloaded


class Admission:
    def __init__(self, model: str, limit: int) -> None:
        self.model, self.limit = model, limit
        self.in_flight = 0

    def check(self) -> None:
        """Raise Overloaded (429) when every slot is taken."""
        if self.in_flight >= self.limit:
            raise Overloaded(
                f"model {self.model!r} has {self.in_flight} requests queued or running (limit {self.limit}); "
                "retry after the delay in Retry-After",
                retry_after=1,
            )

    def acquire(self) -> None:
        """Take one slot for a request's lifetime; refused before any preprocessing when all are taken."""
        self.check()
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
