"""The step scheduler with a tiny deterministic step model: joins, leaves, padding, cancellation, and the
state it keeps between steps while jobs drop and reorder their rows (as beam searches do)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from service.engine.scheduler import StepScheduler, merge
from service.engine.state import HostState
from service.runtimes.spec import Axes

INPUTS = {"tokens": Axes(0), "state": Axes(0), "memory": Axes(0, 1), "mask": Axes(0, 1)}
OUTPUTS = {"next": Axes(0), "state_out": Axes(0), "attention": Axes(0, 1)}


def step(feeds):
    """next = (token + sum of the unmasked memory + state) % 97; the state remembers every token it saw;
    attention = the mask, normalised."""
    mem = (feeds["memory"] * feeds["mask"]).sum(axis=1)
    nxt = (feeds["tokens"] + mem.astype(np.int64) + feeds["state"]) % 97
    attention = feeds["mask"] / feeds["mask"].sum(axis=1, keepdims=True)
    return {"next": nxt, "state_out": (feeds["state"] * 3 + feeds["tokens"]) % 1009, "attention": attention}


def keeper(step_fn=step):
    return HostState(step_fn, {"state": "state_out"}, {"state": 0})


class CountJob:
    """`rows` sequences over a source of length `src_len`, run for `steps` steps, recording every output.
    Like a beam search, it reverses the order of its rows after every step and drops its last row after
    every second step (keeping at least one), so the kept state must follow the right rows."""

    def __init__(self, rows: int, src_len: int, steps: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.tokens = rng.integers(0, 97, rows)
        self.state: np.ndarray | None = rng.integers(0, 1009, rows)
        self.memory = rng.integers(0, 5, (rows, src_len)).astype(np.float32)
        self.mask = np.ones((rows, src_len), np.float32)
        self.keep = np.arange(rows)
        self.steps, self.done, self.trace = steps, False, []

    @property
    def rows(self) -> int:
        return len(self.tokens)

    def feeds(self):
        return {"tokens": self.tokens, "state": self.state, "memory": self.memory, "mask": self.mask}

    def update(self, out):
        assert out["attention"].shape == self.mask.shape  # trimmed back to this job's own source length
        self.trace.append(out["next"].tolist())
        n = len(self.trace)
        keep = np.arange(self.rows)[::-1]
        if n % 2 == 0 and self.rows > 1:
            keep = keep[:-1]
        self.keep = keep
        self.tokens, self.memory, self.mask = out["next"][keep], self.memory[keep], self.mask[keep]
        # Run alone, the job keeps its own state; inside the scheduler, the scheduler does.
        self.state = out["state_out"][keep] if "state_out" in out else None
        self.done = n >= self.steps


def alone(job: CountJob) -> list:
    while not job.done:
        job.update(step(job.feeds()))
    return job.trace


def specs():
    return [(2, 3, 5, 0), (1, 7, 9, 1), (3, 1, 2, 2), (1, 4, 12, 3)]  # rows, source length, steps, seed


def test_concurrent_jobs_with_different_lengths_equal_jobs_alone():
    async def main(max_jobs):
        calls = []

        def slow_step(feeds):  # 20 ms a call, so jobs starting 1-3 ms apart join while the first is running
            time.sleep(0.02)
            return step(feeds)

        observe = lambda n, s: calls.append(n)  # noqa: E731
        sched = StepScheduler(keeper(slow_step), INPUTS, OUTPUTS, max_jobs=max_jobs, observe=observe)
        jobs = [CountJob(*s) for s in specs()]

        async def later(job, delay):
            await asyncio.sleep(delay)  # joins mid-flight
            await sched.run(job)

        await asyncio.gather(*(later(j, 0.001 * i) for i, j in enumerate(jobs)))
        await sched.stop()
        return [j.trace for j in jobs], calls

    expected = [alone(CountJob(*s)) for s in specs()]
    batched, calls = asyncio.run(main(None))
    assert batched == expected
    assert max(calls) > 3  # rows of several jobs went through one call
    serial, calls = asyncio.run(main(1))  # batching off: one job per call
    assert serial == expected and max(calls) == 3


def test_cancelled_job_leaves_and_the_others_continue():
    async def main():
        sched = StepScheduler(keeper(), INPUTS, OUTPUTS)
        keep, doomed = CountJob(1, 3, 30, 0), CountJob(1, 3, 10_000, 1)
        task = asyncio.ensure_future(sched.run(doomed))
        await asyncio.sleep(0.01)
        task.cancel()
        steps_when_cancelled = len(doomed.trace)
        await sched.run(keep)
        await sched.stop()
        return keep, doomed, steps_when_cancelled

    keep, doomed, n = asyncio.run(main())
    assert keep.trace == alone(CountJob(1, 3, 30, 0))
    assert len(doomed.trace) <= n + 1 and not doomed.done


def test_a_failing_job_fails_alone():
    class Broken(CountJob):
        def update(self, out):
            raise RuntimeError("broken job")

    async def main():
        sched = StepScheduler(keeper(), INPUTS, OUTPUTS)
        good, bad = CountJob(2, 4, 6, 5), Broken(1, 2, 6, 6)
        results = await asyncio.gather(sched.run(good), sched.run(bad), return_exceptions=True)
        await sched.stop()
        return good, results

    good, results = asyncio.run(main())
    assert results[0] is None and isinstance(results[1], RuntimeError)
    assert good.trace == alone(CountJob(2, 4, 6, 5))


def fragile(feeds):
    if (feeds["tokens"] < 0).any():  # as onnxruntime fails on a bad row: the whole call raises
        raise RuntimeError("bad token in the step")
    return step(feeds)


class Poisoned(CountJob):
    """A job whose rows make the step fail from its `after`-th step on."""

    def __init__(self, *args, after: int = 0):
        super().__init__(*args)
        self.after = after
        if after == 0:
            self.tokens = -np.ones_like(self.tokens)

    def update(self, out):
        super().update(out)
        if len(self.trace) >= self.after:
            self.tokens = -np.ones_like(self.tokens)


@pytest.mark.parametrize("after", [0, 2])  # fails on its first step, or mid-flight with the others' state kept
def test_a_step_that_fails_is_rerun_per_job_so_only_the_bad_job_fails(after):
    async def main():
        sched = StepScheduler(keeper(fragile), INPUTS, OUTPUTS)
        good = [CountJob(*s) for s in specs()]
        bad = Poisoned(2, 5, 40, 9, after=after)
        results = await asyncio.gather(*(sched.run(j) for j in [*good, bad]), return_exceptions=True)
        after_job = CountJob(1, 3, 4, 7)  # the next job, alone, runs as usual
        await sched.run(after_job)
        await sched.stop()
        return good, bad, results, after_job

    good, bad, results, after_job = asyncio.run(main())
    assert results[:-1] == [None] * len(good)
    assert isinstance(results[-1], RuntimeError) and str(results[-1]) == "bad token in the step"
    assert len(bad.trace) == after
    assert [j.trace for j in good] == [alone(CountJob(*s)) for s in specs()]
    assert after_job.trace == alone(CountJob(1, 3, 4, 7))


@pytest.mark.parametrize(("shape", "axes"), [((3, 7, 4), Axes(0, 1)), ((2, 3, 7), Axes(1, 2)), ((3, 7), Axes(0, 1))])
def test_merge_pads_each_part_with_zeros_to_the_longest(shape, axes):
    rng = np.random.default_rng(0)
    parts = []
    for rows, length in ((2, 5), (1, 7), (3, 2)):
        s = list(shape)
        s[axes.batch], s[axes.pad] = rows, length
        parts.append(rng.standard_normal(s).astype(np.float32) + 1)  # nonzero, so padding shows
    widths = lambda p: [(0, 7 - p.shape[axes.pad]) if i == axes.pad else (0, 0) for i in range(p.ndim)]  # noqa: E731
    expected = np.concatenate([np.pad(p, widths(p)) for p in parts], axis=axes.batch)
    merged = merge(parts, axes)
    assert merged.dtype == np.float32 and np.array_equal(merged, expected)
    same = [p[(slice(None),) * axes.pad + (slice(0, 2),)] for p in parts]  # equal lengths: a plain concatenate
    assert np.array_equal(merge(same, axes), np.concatenate(same, axis=axes.batch))
