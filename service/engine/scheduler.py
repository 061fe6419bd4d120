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

An optional reducer runs in the worker thread right after each step, before the jobs get their rows: beam
searches get each row's best tokens (`core/decoding/top_k.py`) instead of log-probs over the vocabulary.
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
from service.runtimes.spec import Axes

log = logging.getLogger("dlserve")


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
# After the step, in the worker thread: the step's outputs and jobs -> the outputs the jobs get (e.g. each
# row's best tokens instead of its log-probs over the whole vocabulary).
Reducer = Callable[[dict[str, np.ndarray], list[StepJob]], dict[str, np.ndarray]]


def merge(parts: list[np.ndarray], axes: Axes) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]  # no copy when a job runs alone
    lengths = [p.shape[axes.pad] for p in parts] if axes.pad is not None else []
    if not lengths or min(lengths) == max(lengths):
        return np.concatenate(parts, axis=axes.batch)
    # Zeros to the longest, each part copied into its own block: one copy (np.pad then concatenate made two).
    shape = list(parts[0].shape)
    shape[axes.batch] = sum(p.shape[axes.batch] for p in parts)
    shape[axes.pad] = max(lengths)
    out = np.zeros(shape, np.result_type(*parts))
    index: list[slice] = [slice(None)] * out.ndim
    offset = 0
    for p, length in zip(parts, lengths, strict=True):
        rows = p.shape[axes.batch]
        index[axes.batch], index[axes.pad] = slice(offset, offset + rows), slice(0, length)
        out[tuple(index)] = p
        offset += rows
    return out


@dataclass(eq=False)  # identity: an entry is one caller
class _Entry:
    job: StepJob
    future: asyncio.Future
    rows: int = 0
    pad_len: int | None = None  # this job's length along the padded axes
    carried: np.ndarray | None = None  # this step: the indices of its rows in the kept state; None: joining


class StepScheduler(BackgroundLoop):
    def __init__(
        self,
        keeper: StateKeeper,
        inputs: dict[str, Axes],
        outputs: dict[str, Axes],
        max_rows: int = 256,
        max_jobs: int | None = None,
        observe: Observer | None = None,
        reduce: Reducer | None = None,
    ) -> None:
        self.keeper, self.outputs, self.reduce = keeper, outputs, reduce
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
            jobs = self._plan()
            if not jobs:
                continue
            feeds_per_job = [e.job.feeds() for e in jobs]
            padded = [k for k, a in self.inputs.items() if a.pad is not None]
            for e, f in zip(jobs, feeds_per_job, strict=True):
                e.rows = e.job.rows
                e.pad_len = f[padded[0]].shape[self.inputs[padded[0]].pad] if padded else None
            feeds = {k: merge([f[k] for f in feeds_per_job], a) for k, a in self.inputs.items()}
            keep, fresh = self._rows(jobs, feeds_per_job)
            started = time.perf_counter()
            try:
                outs, state = await asyncio.to_thread(self._step, jobs, self.state, keep, fresh, feeds)
            except Exception as exc:
                if len(jobs) == 1:
                    self.state, self.stepped = None, []
                    jobs[0].future.set_exception(exc)
                    continue
                log.exception("decoder step failed for %d jobs; running each job's step alone", len(jobs))
                await self._one_by_one(jobs, feeds_per_job)
                continue
            self.state, self.stepped = state, jobs
            if self.observe:
                self.observe(sum(e.rows for e in jobs), time.perf_counter() - started)
            self._scatter(jobs, outs)

    def _plan(self) -> list[_Entry]:
        """This step's jobs: those continuing from the last step first, in its order, each with the indices of
        its rows in the kept state (`carried`), then the joining ones (`carried` None)."""
        live = {id(e) for e in self.active}
        continuing, offset = [], 0
        for e in self.stepped:
            if id(e) in live:
                rows = np.asarray(e.job.keep, np.int64)
                in_range = not len(rows) or 0 <= rows.min() <= rows.max() < e.rows
                if rows.ndim != 1 or len(rows) != e.job.rows or not in_range:
                    e.future.set_exception(RuntimeError(f"job kept rows {rows.tolist()} of its {e.rows}"))
                    continue
                e.carried = offset + rows
                continuing.append(e)
            offset += e.rows
        carried = {id(e) for e in continuing}
        fresh = [e for e in self.active if id(e) not in carried and not e.future.done()]
        for e in fresh:
            e.carried = None
        self.active = continuing + fresh
        return self.active

    def _rows(self, jobs: list[_Entry], feeds_per_job: list[dict[str, np.ndarray]]):
        """The kept state's rows that continue, in order, and the joining jobs' initial states (or None)."""
        keep = [e.carried for e in jobs if e.carried is not None]
        fresh = [f for e, f in zip(jobs, feeds_per_job, strict=True) if e.carried is None]
        fresh_state = {k: merge([f[k] for f in fresh], a) for k, a in self.state_axes.items()} if fresh else None
        return (np.concatenate(keep) if keep else np.zeros(0, np.int64)), fresh_state

    def _step(
        self, jobs: list[_Entry], prev: State | None, keep: np.ndarray, fresh: dict[str, np.ndarray] | None, feeds
    ):
        outs, state = self.keeper.run(feeds, self.keeper.select(prev, keep, fresh))
        return (self.reduce(outs, [e.job for e in jobs]) if self.reduce else outs), state

    async def _one_by_one(self, jobs: list[_Entry], feeds_per_job: list[dict[str, np.ndarray]]) -> None:
        # As the batcher does: a step that fails for the merged rows is re-run per job, so a job whose own rows
        # make the model fail fails alone and the others advance (rows never mix in a step, so each job gets
        # exactly the step it would have had in the merged call). The survivors' states are merged again
        # through host memory: a rare path.
        prev, survivors = self.state, []
        for e, feeds in zip(jobs, feeds_per_job, strict=True):
            if e.future.done():
                continue
            keep, fresh = self._rows([e], [feeds])
            try:
                step_feeds = {k: feeds[k] for k in self.inputs}
                outs, state = await asyncio.to_thread(self._step, [e], prev, keep, fresh, step_feeds)
            except Exception as exc:
                e.future.set_exception(exc)
                continue
            survivors.append((e, self.keeper.to_host(state)))
            self._scatter([e], outs)
        self.state, self.stepped = None, [e for e, _ in survivors]
        if survivors:
            merged = {k: merge([s[k] for _, s in survivors], a) for k, a in self.state_axes.items()}
            self.state = self.keeper.select(None, np.zeros(0, np.int64), merged)

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
