"""Step-level continuous batching for decoders: one scheduler per model advances the live sequences of all
requests together, one decoder-step call per iteration; jobs join and leave between steps.

A job owns its rows (a generation has 1, a beam search has up to beams x sentences). The scheduler
concatenates the jobs' inputs along each tensor's batch axis, padding per-job axes such as the source length
(masks pad with 0, so padded positions get no attention), runs the step once in a worker thread, and hands
each job back its own rows, trimmed to its own lengths.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from service.engine.worker import BackgroundLoop

log = logging.getLogger("dlserve")


@dataclass(frozen=True)
class Axes:
    batch: int = 0
    pad: int | None = None  # an axis whose length differs between jobs (padded with zeros to the longest)


class StepJob(Protocol):
    done: bool
    rows: int  # live rows this step

    def feeds(self) -> dict[str, np.ndarray]: ...

    def update(self, outputs: dict[str, np.ndarray]) -> None: ...


StepFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
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


@dataclass
class _Entry:
    job: StepJob
    future: asyncio.Future
    rows: int = 0
    pad_len: int | None = None  # this job's length along the padded axes


class StepScheduler(BackgroundLoop):
    def __init__(
        self,
        step: StepFn,
        inputs: dict[str, Axes],
        outputs: dict[str, Axes],
        max_rows: int = 256,
        max_jobs: int | None = None,
        observe: Observer | None = None,
    ) -> None:
        self.step, self.inputs, self.outputs = step, inputs, outputs
        self.max_rows, self.max_jobs, self.observe = max_rows, max_jobs, observe
        self.waiting: list[_Entry] = []
        self.active: list[_Entry] = []
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
                self._wake.clear()
                await self._wake.wait()
                continue
            jobs = list(self.active)
            feeds_per_job = [e.job.feeds() for e in jobs]
            padded = [k for k, a in self.inputs.items() if a.pad is not None]
            for e, f in zip(jobs, feeds_per_job, strict=True):
                e.rows = e.job.rows
                e.pad_len = f[padded[0]].shape[self.inputs[padded[0]].pad] if padded else None
            feeds = {k: merge([f[k] for f in feeds_per_job], a) for k, a in self.inputs.items()}
            started = time.perf_counter()
            try:
                outs = await asyncio.to_thread(self.step, feeds)
            except Exception as exc:
                if len(jobs) == 1:
                    jobs[0].future.set_exception(exc)
                    continue
                log.exception("decoder step failed for %d jobs; running each job's step alone", len(jobs))
                await self._one_by_one(jobs, feeds_per_job)
                continue
            if self.observe:
                self.observe(sum(e.rows for e in jobs), time.perf_counter() - started)
            self._scatter(jobs, outs)

    async def _one_by_one(self, jobs: list[_Entry], feeds_per_job: list[dict[str, np.ndarray]]) -> None:
        # As the batcher does: a step that fails for the merged rows is re-run per job, so a job whose own rows
        # make the model fail fails alone and the others advance (jobs never share state, so this is the same
        # step they would have taken together).
        for e, feeds in zip(jobs, feeds_per_job, strict=True):
            if e.future.done():
                continue
            try:
                outs = await asyncio.to_thread(self.step, feeds)
            except Exception as exc:
                e.future.set_exception(exc)
                continue
            self._scatter([e], outs)

    def _scatter(self, jobs: list[_Entry], outs: dict[str, np.ndarray]) -> None:
        offset = 0
        for e in jobs:
            mine = {}
            for k, a in self.outputs.items():
                part = np.take(outs[k], np.arange(offset, offset + e.rows), axis=a.batch)
                if a.pad is not None and e.pad_len is not None and part.shape[a.pad] != e.pad_len:
                    part = np.take(part, np.arange(e.pad_len), axis=a.pad)
                mine[k] = part
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
