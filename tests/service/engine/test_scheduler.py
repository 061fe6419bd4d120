"""The step scheduler with a tiny deterministic step model: joins, leaves, padding, cancellation."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from service.engine.scheduler import Axes, StepScheduler

INPUTS = {"tokens": Axes(0), "state": Axes(0), "memory": Axes(0, 1), "mask": Axes(0, 1)}
OUTPUTS = {"next": Axes(0), "state_out": Axes(0), "attention": Axes(0, 1)}


def step(feeds):
    """next = (token + sum of the unmasked memory + state) % 97; attention = the mask, normalised."""
    mem = (feeds["memory"] * feeds["mask"]).sum(axis=1)
    nxt = (feeds["tokens"] + mem.astype(np.int64) + feeds["state"]) % 97
    attention = feeds["mask"] / feeds["mask"].sum(axis=1, keepdims=True)
    return {"next": nxt, "state_out": feeds["state"] + 1, "attention": attention}


class CountJob:
    """`rows` sequences over a source of length `src_len`, run for `steps` steps, recording every output."""

    def __init__(self, rows: int, src_len: int, steps: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.tokens = rng.integers(0, 97, rows)
        self.state = np.zeros(rows, np.int64)
        self.memory = rng.integers(0, 5, (rows, src_len)).astype(np.float32)
        self.mask = np.ones((rows, src_len), np.float32)
        self.steps, self.done, self.trace = steps, False, []

    @property
    def rows(self) -> int:
        return len(self.tokens)

    def feeds(self):
        return {"tokens": self.tokens, "state": self.state, "memory": self.memory, "mask": self.mask}

    def update(self, out):
        assert out["attention"].shape == self.mask.shape  # trimmed back to this job's own source length
        self.tokens, self.state = out["next"], out["state_out"]
        self.trace.append(self.tokens.tolist())
        self.done = len(self.trace) >= self.steps


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

        sched = StepScheduler(slow_step, INPUTS, OUTPUTS, max_jobs=max_jobs, observe=lambda n, s: calls.append(n))
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
        sched = StepScheduler(step, INPUTS, OUTPUTS)
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
        sched = StepScheduler(step, INPUTS, OUTPUTS)
        good, bad = CountJob(2, 4, 6, 5), Broken(1, 2, 6, 6)
        results = await asyncio.gather(sched.run(good), sched.run(bad), return_exceptions=True)
        await sched.stop()
        return good, results

    good, results = asyncio.run(main())
    assert results[0] is None and isinstance(results[1], RuntimeError)
    assert good.trace == alone(CountJob(2, 4, 6, 5))


def test_a_step_that_fails_is_rerun_per_job_so_only_the_bad_job_fails():
    def fragile(feeds):
        if (feeds["tokens"] < 0).any():  # as onnxruntime fails on a bad row: the whole call raises
            raise RuntimeError("bad token in the step")
        return step(feeds)

    class Poisoned(CountJob):
        def __init__(self, *args):
            super().__init__(*args)
            self.tokens = -np.ones_like(self.tokens)

    async def main():
        sched = StepScheduler(fragile, INPUTS, OUTPUTS)
        good = [CountJob(*s) for s in specs()]
        results = await asyncio.gather(*(sched.run(j) for j in [*good, Poisoned(2, 5, 4, 9)]), return_exceptions=True)
        after = CountJob(1, 3, 4, 7)  # the next job, alone, runs as usual
        await sched.run(after)
        await sched.stop()
        return good, results, after

    good, results, after = asyncio.run(main())
    assert results[:-1] == [None] * len(good)
    assert isinstance(results[-1], RuntimeError) and str(results[-1]) == "bad token in the step"
    assert [j.trace for j in good] == [alone(CountJob(*s)) for s in specs()]
    assert after.trace == alone(CountJob(1, 3, 4, 7))
