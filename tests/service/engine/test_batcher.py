"""The dynamic batcher with a fake model: order, max size, max delay, dropped work, error isolation."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from service.engine.batcher import DynamicBatcher


class FakeModel:
    """Doubles its rows; a row equal to -1 makes the whole call fail, as a bad input would."""

    def __init__(self) -> None:
        self.calls: list[list[float]] = []

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.calls.append(rows[:, 0].tolist())
        if (rows == -1).any():
            raise ValueError("bad row")
        return rows * 2


def run(coro):
    return asyncio.run(coro)


def test_each_request_gets_its_own_rows_in_order():
    async def main():
        model = FakeModel()
        b = DynamicBatcher(model, max_batch_size=64, max_delay_ms=5)
        items = [np.full((i % 3 + 1, 2), float(i)) for i in range(10)]
        outs = await asyncio.gather(*(b.submit(x) for x in items))
        await b.stop()
        return model, items, outs

    model, items, outs = run(main())
    for x, y in zip(items, outs, strict=True):
        np.testing.assert_array_equal(y, x * 2)
    assert len(model.calls) < 10  # requests were merged


def test_max_batch_size_is_never_exceeded():
    async def main():
        model, sizes = FakeModel(), []
        b = DynamicBatcher(model, max_batch_size=4, max_delay_ms=5, observe=lambda n, q, c: sizes.append(n))
        await asyncio.gather(*(b.submit(np.full((1, 1), float(i))) for i in range(10)))
        await b.stop()
        return model, sizes

    model, sizes = run(main())
    assert sizes == [4, 4, 2] and [len(c) for c in model.calls] == [4, 4, 2]
    assert model.calls[0] == [0.0, 1.0, 2.0, 3.0]  # first come, first served


def test_waits_for_announced_work_but_never_for_nobody():
    async def main():
        model, queued = FakeModel(), []
        b = DynamicBatcher(model, max_batch_size=8, max_delay_ms=80, observe=lambda n, q, c: queued.append(q))
        await b.submit(np.ones((1, 1)))  # nobody else announced: runs at once
        with b.announce():  # another request is preprocessing: the batch waits for it, up to the delay
            first = asyncio.ensure_future(b.submit(np.ones((1, 1))))
            await asyncio.sleep(0.02)
            second = asyncio.ensure_future(b.submit(np.full((1, 1), 3.0)))
            await asyncio.gather(first, second)
        await b.stop()
        return model, queued

    model, queued = run(main())
    assert queued[0] < 0.04
    assert model.calls[1] == [1.0, 3.0]  # the announced request joined the waiting batch


def test_cancelled_items_are_not_computed():
    async def main():
        model = FakeModel()
        b = DynamicBatcher(model, max_batch_size=8, max_delay_ms=50)
        with b.announce():
            doomed = asyncio.ensure_future(b.submit(np.full((1, 1), 9.0)))
            await asyncio.sleep(0)
            doomed.cancel()  # deadline passed or client left while queued
            kept = await b.submit(np.full((1, 1), 4.0))
        await b.stop()
        return model, kept

    model, kept = run(main())
    assert kept.tolist() == [[8.0]] and all(9.0 not in c for c in model.calls)


def test_one_bad_item_fails_only_its_own_request():
    async def main():
        b = DynamicBatcher(FakeModel(), max_batch_size=8, max_delay_ms=5)
        results = await asyncio.gather(
            *(b.submit(np.full((1, 1), v)) for v in (1.0, -1.0, 2.0)), return_exceptions=True
        )
        await b.stop()
        return results

    ok1, bad, ok2 = run(main())
    assert ok1.tolist() == [[2.0]] and ok2.tolist() == [[4.0]]
    assert isinstance(bad, ValueError)
    with pytest.raises(ValueError):
        raise bad
