"""Step-level continuous batching for decoders: one scheduler per model advances the live sequences of all
requests together, one decoder-step call per iteration; jobs join and leave between steps.

A job owns its rows (a generation has 1, a beam search has up to beams x sentences). The scheduler
concatenates the jobs' inputs along each tensor's batch axis, padding per-job axes such as the source length
(masks pad with 0, so padded positions get no attention), runs the step once in a worker thread, and hands
each job back its own rows, trimmed to its own lengths.

The recurrent state is the exception: the scheduler keeps the merged state of all rows itself (a
`StateKeeper`: in onnxruntime memory, on the GPU under CUDA), so it is never split per job and merged again.
A job gives its initial state in its first `feeds()`; after each step it says which of its rows continue
(`keep`, indices into the rows it had in that step, beams reordered), and the keeper selects those rows and
appends the rows of joining jobs before the next step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from service.engine.state import State, StateKeeper
from service.engine.worker import BackgroundLoop

log = logging.getLogger("dlserve")


@dataclass(frozen=True)
class Axes:
    batch: int = 0
    pad: int | None = None  # an axis whose length differs between jobs (padded with zeros to the longest)


class StepJob(Protocol):
    done: bool
    rows: int  # live rows this step
    keep: np.ndarray  # after update: which of the last step's rows continue, in their new order

    def feeds(self) -> dict[str, np.ndarray]:
        """Inputs for the next step; the state inputs are read only on the job's first step."""
        ...

    def update(self, outputs: dict[str, np.ndarray]) -> None:
        """The step's outputs for this job's rows, without the state (which the scheduler keeps)."""
        ...


Observer = Callable[[int, float], None]  # (rows in the step, compute seconds)


def merge(parts: list[np.ndarray], axes: Axes) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]  # no copy when a job runs alone
    if axes.pad is not None:
        longest = max(p.shape[axes.pad] for p in parts)
        padded = []
        for p in parts:
            widths = [(0, 0)] * p.ndim
            widths[axes.pad] = (0, longest - p.shape[axes.pad])
            padded.append(np.pad(p, widths) if longest > p.shape[axes.pad] else p)
        parts = padded
    return np.concatenate(parts, axis=axes.batch)


@dataclass(eq=False)  # identity: an entry is one caller
class _Entry:
    job: StepJob
    future: asyncio.Future
    rows: int = 0
    pad_len: int | None = None  # this job's length along the padded axes


class StepScheduler(BackgroundLoop):
    def __init__(
        self,
        keeper: StateKeeper,
        inputs: dict[str, Axes],
        outputs: dict[str, Axes],
        max_rows: int = 256,
        max_jobs: int | None = None,
        observe: Observer | None = None,
    ) -> None:
        self.keeper, self.outputs = keeper, outputs
        self.inputs = {k: a for k, a in inputs.items() if k not in keeper.pairs}  # merged per step
        self.state_axes = {k: inputs[k] for k in keeper.pairs}
        self.max_rows, self.max_jobs, self.observe = max_rows, max_jobs, observe
        self.waiting: list[_Entry] = []
        self.active: list[_Entry] = []
        self.state: State | None = None  # the rows of `stepped`, in order
        self.stepped: list[_Entry] = []  # the last step's jobs, each with the rows it had then
        self._wake = asyncio.Event()

    @property
    def live_rows(self) -> int:
        return sum(e.rows for e in self.active)

    async def run(self, job: StepJob) -> None:
        """Advance `job` until it is done. Cancelling the caller removes the job before the next step."""
        self.start()
        entry = _Entry(job, asyncio.get_running_loop().create_future())
        if job.done:
            return
        self.waiting.append(entry)
        self._wake.set()
        await entry.future

    def _admit(self) -> None:
        rows = self.live_rows
        while self.waiting:
            e = self.waiting[0]
            need = e.job.rows
            if self.active and (rows + need > self.max_rows or (self.max_jobs and len(self.active) >= self.max_jobs)):
                break
            self.active.append(self.waiting.pop(0))
            rows += need

    async def _run(self) -> None:
        while True:
            self.active = [e for e in self.active if not e.future.done()]  # cancelled callers leave here
            self.waiting = [e for e in self.waiting if not e.future.done()]
            self._admit()
            if not self.active:
                self.state, self.stepped = None, []  # nothing live: let the state go
                self._wake.clear()
                await self._wake.wait()
                continue
            jobs, keep, fresh = self._plan()
            if not jobs:
                continue
            feeds_per_job = [e.job.feeds() for e in jobs]
            padded = [k for k, a in self.inputs.items() if a.pad is not None]
            for e, f in zip(jobs, feeds_per_job, strict=True):
                e.rows = e.job.rows
                e.pad_len = f[padded[0]].shape[self.inputs[padded[0]].pad] if padded else None
            fresh_state = None
            if fresh:
                fresh_feeds = [f for e, f in zip(jobs, feeds_per_job, strict=True) if e in fresh]
                fresh_state = {k: merge([f[k] for f in fresh_feeds], a) for k, a in self.state_axes.items()}
            feeds = {k: merge([f[k] for f in feeds_per_job], a) for k, a in self.inputs.items()}
            started = time.perf_counter()
            try:
                outs, self.state = await asyncio.to_thread(self._step, feeds, keep, fresh_state)
            except Exception as exc:
                log.exception("decoder step failed for %d jobs", len(jobs))
                self.state, self.stepped = None, []
                for e in jobs:
                    if not e.future.done():
                        e.future.set_exception(exc)
                continue
            self.stepped = jobs
            if self.observe:
                self.observe(sum(e.rows for e in jobs), time.perf_counter() - started)
            self._scatter(jobs, outs)

    def _plan(self) -> tuple[list[_Entry], np.ndarray, list[_Entry]]:
        """This step's jobs (those continuing from the last step first, in its order, then the joining ones),
        the last step's rows that continue, and the joining jobs."""
        live = {id(e) for e in self.active}
        keep, continuing, offset = [], [], 0
        for e in self.stepped:
            if id(e) in live:
                rows = np.asarray(e.job.keep, np.int64)
                in_range = not len(rows) or 0 <= rows.min() <= rows.max() < e.rows
                if rows.ndim != 1 or len(rows) != e.job.rows or not in_range:
                    e.future.set_exception(RuntimeError(f"job kept rows {rows.tolist()} of its {e.rows}"))
                    continue
                keep.append(offset + rows)
                continuing.append(e)
            offset += e.rows
        carried = {id(e) for e in continuing}
        fresh = [e for e in self.active if id(e) not in carried and not e.future.done()]
        self.active = continuing + fresh
        return self.active, np.concatenate(keep) if keep else np.zeros(0, np.int64), fresh

    def _step(self, feeds: dict[str, np.ndarray], keep: np.ndarray, fresh: dict[str, np.ndarray] | None):
        state = self.keeper.select(self.state, keep, fresh)
        return self.keeper.run(feeds, state)

    def _scatter(self, jobs: list[_Entry], outs: dict[str, np.ndarray]) -> None:
        offset = 0
        for e in jobs:
            mine = {}
            for k, a in self.outputs.items():
                if k in self.keeper.pairs.values():
                    continue  # the state stays with the keeper
                index = [slice(None)] * outs[k].ndim  # views, not copies: the log-probs are rows x vocabulary
                index[a.batch] = slice(offset, offset + e.rows)
                if a.pad is not None and e.pad_len is not None:
                    index[a.pad] = slice(0, e.pad_len)
                mine[k] = outs[k][tuple(index)]
            offset += e.rows
            if e.future.done():
                continue
            try:
                e.job.update(mine)
            except Exception as exc:  # a job's own bug or bad state fails only that job
                e.future.set_exception(exc)
                continue
            if e.job.done:
                e.future.set_result(None)
