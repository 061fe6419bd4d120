"""Dynamic batching for single-pass models: requests from different clients merged into one model call.

A batch closes when it holds `max_batch_size` rows or `max_delay_ms` after its first item, whichever is
first; it only waits while more work has been announced (a request admitted and still preprocessing), so a
lone client never pays the delay. The model runs in a worker thread, off the event loop, unless nothing else
is waiting and a call of that many rows took under INLINE_S last time. When a batch fails, its items are
retried one by one so that one bad item fails only its own request.

Rows are one array or named arrays (a tensor graph's inputs), all (N, ...); items join a batch only when their
arrays have the same names, dtypes and sizes past the first axis, so an item that differs opens the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from service.engine.worker import BackgroundLoop

log = logging.getLogger("dlserve")

Rows = np.ndarray | dict[str, np.ndarray]  # one array, or named arrays, each (N, ...)
BatchFn = Callable[[Rows], Rows]  # (N, ...) rows in -> (N, ...) rows out
Observer = Callable[[int, float, float], None]  # (batch rows, queue seconds of the oldest item, compute seconds)
# A call this quick (a LeNet-5 digit and its shifted views) runs on the event loop when no other request waits:
# the hop to a worker thread and back costs about as much (about 0.5 ms of CPU on a slow 2-core machine). A
# request that arrives meanwhile waits at most this long.
INLINE_S = 500e-6


def take(out: Rows, start: int, stop: int) -> Rows:
    """Rows start..stop of a batch's output (of every named array when the model has several outputs)."""
    if isinstance(out, dict):
        return {k: v[start:stop] for k, v in out.items()}
    return out[start:stop]


def count(rows: Rows) -> int:
    return len(next(iter(rows.values()))) if isinstance(rows, dict) else len(rows)


def joinable(a: Rows, b: Rows) -> bool:
    """Whether two items' rows can be concatenated into one call."""
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()):
            return False
        return all(joinable(a[k], b[k]) for k in a)
    return a.shape[1:] == b.shape[1:] and a.dtype == b.dtype


def join(parts: list[Rows]) -> Rows:
    first = parts[0]
    if isinstance(first, dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in first}  # type: ignore[index]
    return np.concatenate(parts)  # type: ignore[arg-type]


@dataclass
class _Item:
    rows: Rows
    future: asyncio.Future
    queued_at: float = field(default_factory=time.perf_counter)


class DynamicBatcher(BackgroundLoop):
    def __init__(self, fn: BatchFn, max_batch_size: int, max_delay_ms: float, observe: Observer | None = None) -> None:
        self.fn, self.max_batch_size, self.max_delay = fn, max_batch_size, max_delay_ms / 1000
        self.observe = observe
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.announced = 0  # requests admitted that will submit soon
        self._carry: _Item | None = None  # an item that did not fit the last batch: it opens the next one
        self._seconds: dict[int, float] = {}  # rows -> how long the last call of that many rows took

    @contextlib.contextmanager
    def announce(self):
        """Tell the batcher a request is on its way (while it preprocesses), so a forming batch waits for it."""
        self.announced += 1
        try:
            yield
        finally:
            self.announced -= 1

    async def submit(self, rows: Rows) -> Rows:
        """Queue (n, ...) rows; returns the model's (n, ...) output rows for them."""
        self.start()
        item = _Item(rows, asyncio.get_running_loop().create_future())
        self.queue.put_nowait(item)
        return await item.future

    async def _collect(self) -> list[_Item]:
        first, self._carry = self._carry, None
        batch = [first if first is not None else await self.queue.get()]
        size = count(batch[0].rows)
        deadline = batch[0].queued_at + self.max_delay
        while size < self.max_batch_size:
            if not self.queue.empty():
                nxt = self.queue.get_nowait()
            else:
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or self.announced == 0:
                    break
                try:
                    async with asyncio.timeout(remaining):  # a scope, not wait_for (a task per call)
                        nxt = await self.queue.get()
                except TimeoutError:
                    break
            if size + count(nxt.rows) > self.max_batch_size or not joinable(batch[0].rows, nxt.rows):
                self._carry = nxt
                break
            batch.append(nxt)
            size += count(nxt.rows)
        return [b for b in batch if not b.future.cancelled()]  # dropped: deadline passed or client gone

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            if not batch:
                continue
            started = time.perf_counter()
            rows = join([b.rows for b in batch])
            n = count(rows)
            try:
                out = await self._call(rows, n)
            except Exception:
                log.exception("batch of %d items failed; retrying them one by one", len(batch))
                await self._one_by_one(batch)
                continue
            if self.observe:
                self.observe(n, started - batch[0].queued_at, time.perf_counter() - started)
            offset = 0
            for b in batch:
                n = count(b.rows)
                if not b.future.done():
                    b.future.set_result(take(out, offset, offset + n))
                offset += n

    async def _call(self, rows: Rows, n: int) -> Rows:
        """The model on `rows`: in a worker thread, where onnxruntime (which releases the GIL) overlaps with the
        event loop's work on other requests; or on the loop itself when there is no other request to overlap
        with and a call of this many rows last took under INLINE_S: the hop to a thread and back costs more."""
        idle = self.announced == 0 and self.queue.empty() and self._carry is None
        if idle and self._seconds.get(n, INLINE_S) < INLINE_S:
            return self._timed(rows, n)
        return await asyncio.to_thread(self._timed, rows, n)

    def _timed(self, rows: Rows, n: int) -> Rows:
        started = time.perf_counter()
        out = self.fn(rows)
        self._seconds[n] = time.perf_counter() - started  # the call alone, without the hop to its thread
        return out

    async def _one_by_one(self, batch: list[_Item]) -> None:
        for b in batch:
            try:
                out = await self._call(b.rows, count(b.rows))
            except Exception as e:
                if not b.future.done():
                    b.future.set_exception(e)
            else:
                if not b.future.done():
                    b.future.set_result(out)
