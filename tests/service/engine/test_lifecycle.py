"""Deadlines and disconnects: `guarded` returns the work's result, or cancels the work and says why; it never
cancels its caller once the work is over, and leaves cancellations from outside alone."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from service.engine.lifecycle import ClientGone, deadline_seconds, guarded
from service.errors import DeadlineExceeded, InvalidInput


def run(coro):
    return asyncio.run(coro)


async def slow(seconds: float, log: list[str], value: str = "done") -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    return value


def test_the_work_result_comes_back_and_nothing_is_left_running():
    async def main():
        log: list[str] = []
        gone = asyncio.Event()
        result = await guarded(slow(0.01, log), 1.0, gone=gone.wait, watch_after=0)
        await asyncio.sleep(0.02)
        return result, log, len(asyncio.all_tasks())

    assert run(main()) == ("done", [], 1)  # the watcher was cancelled: only main() is left


def test_past_the_deadline_the_work_is_cancelled_and_the_message_gives_the_whole_deadline():
    async def main():
        log: list[str] = []
        with pytest.raises(DeadlineExceeded, match="deadline of 2 s"):
            await guarded(slow(5, log), 0.02, deadline=2.0)
        return log

    assert run(main()) == ["cancelled"]


def test_a_client_that_leaves_cancels_the_work_and_the_caller_carries_on():
    async def main():
        log: list[str] = []

        async def leaves():
            await asyncio.sleep(0.01)

        with pytest.raises(ClientGone):
            await guarded(slow(5, log), 1.0, gone=leaves, watch_after=0)
        await asyncio.sleep(0.01)  # the caller was uncancelled: it can go on awaiting
        return log

    assert run(main()) == ["cancelled"]


def test_the_works_own_timeout_error_is_not_a_deadline():
    async def fails():
        raise TimeoutError("upstream")

    async def main():
        with pytest.raises(TimeoutError, match="upstream"):
            await guarded(fails(), 1.0)

    run(main())


def test_a_cancellation_from_outside_stays_a_cancellation():
    async def main():
        log: list[str] = []
        task = asyncio.ensure_future(guarded(slow(5, log), 1.0, gone=asyncio.Event().wait, watch_after=0))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return log

    assert run(main()) == ["cancelled"]


def test_a_client_leaving_as_the_work_ends_does_not_cancel_what_the_caller_does_next():
    async def main():
        gone = asyncio.Event()

        async def work():
            for _ in range(3):  # the watcher starts and waits
                await asyncio.sleep(0)
            gone.set()
            await asyncio.sleep(0)  # the watcher finishes in the loop iteration where the work resumes and ends
            return "done"

        result = await guarded(work(), 1.0, gone=gone.wait, watch_after=0)
        await asyncio.sleep(0.02)  # a stray cancel would land here
        return result

    assert run(main()) == "done"


def request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""})


def test_deadline_header_in_seconds_within_bounds():
    assert deadline_seconds(request({}), 30.0) == 30.0
    assert deadline_seconds(request({"X-Request-Timeout": "2.5"}), 30.0) == 2.5
    for bad in ("0", "-1", "abc", "601"):
        with pytest.raises(InvalidInput, match="X-Request-Timeout"):
            deadline_seconds(request({"X-Request-Timeout": bad}), 30.0)


def test_quick_work_never_starts_a_watcher_and_slow_work_gets_one_after_the_delay():
    async def main():
        started: list[float] = []
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        def gone():
            started.append(loop.time() - t0)
            return asyncio.Event().wait()

        await guarded(asyncio.sleep(0.005), 1.0, gone=gone, watch_after=0.05)
        quick = list(started)
        t0 = loop.time()
        await guarded(asyncio.sleep(0.12), 1.0, gone=gone, watch_after=0.05)
        return quick, started

    quick, started = run(main())
    assert quick == [] and len(started) == 1 and 0.04 <= started[0] < 0.11
