"""The dynamic batcher with a fake model: order, max size, max delay, dropped work, error isolation; and with a
real onnxruntime session whose graph raises for one batch size."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from onnxruntime.capi.onnxruntime_pybind11_state import Fail
from tests_support import copy_model, fail_on_rows

from core.manifest import Manifest
from service.engine.batcher import DynamicBatcher
from service.runtimes.classifier import ClassifierRuntime


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


def test_a_batch_onnxruntime_fails_is_retried_item_by_item(tmp_path, mnist_test):
    folder = copy_model(tmp_path, "lenet5-mnist")
    manifest = Manifest.model_validate_json((folder / "manifest.json").read_text())
    clean = ClassifierRuntime(manifest, folder, "cpu")
    fail_on_rows(folder, "model", 7)  # onnxruntime raises for any call with 7 rows
    manifest = Manifest.model_validate_json((folder / "manifest.json").read_text())
    poisoned = ClassifierRuntime(manifest, folder, "cpu")
    digits = ((mnist_test[0][:14, None] / 255.0 - 0.1307) / 0.3081).astype(np.float32)  # (14, 1, 28, 28)

    calls = []

    def predict(rows):
        calls.append(len(rows))
        return poisoned.predict(rows)

    async def main():
        b = DynamicBatcher(predict, max_batch_size=64, max_delay_ms=5)
        # 3 + 4 rows queued together: one 7-row batch, which fails, then each item alone (3 and 4 rows) passes.
        merged = await asyncio.gather(b.submit(digits[:3]), b.submit(digits[3:7]), return_exceptions=True)
        alone = await asyncio.gather(b.submit(digits[:7]), return_exceptions=True)  # fails even alone
        after = await b.submit(digits[7:14][:6])  # the next batch runs as usual
        await b.stop()
        return merged, alone, after

    merged, (alone,), after = run(main())
    assert calls == [7, 3, 4, 7, 7, 6]  # merged batch, its retries, the 7-row item and its retry, the next batch
    expected = clean.predict(digits)
    np.testing.assert_allclose(np.concatenate(merged), expected[:7], atol=1e-6)
    assert isinstance(alone, Fail) and "cannot be reshaped to the requested shape" in str(alone)
    np.testing.assert_allclose(after, expected[7:13], atol=1e-6)


def test_named_rows_are_merged_per_name_and_split_back():
    calls = []

    def model(rows: dict) -> dict:
        calls.append({k: v.shape for k, v in rows.items()})
        return {"sum": rows["a"] + rows["b"][:, :1], "a": rows["a"]}

    async def main():
        b = DynamicBatcher(model, max_batch_size=64, max_delay_ms=5)
        items = [{"a": np.full((n, 1), float(n)), "b": np.full((n, 3), 10.0 * n)} for n in (1, 2, 3)]
        outs = await asyncio.gather(*(b.submit(x) for x in items))
        await b.stop()
        return items, outs

    items, outs = run(main())
    assert calls == [{"a": (6, 1), "b": (6, 3)}]  # one call for the three requests
    for x, y in zip(items, outs, strict=True):
        np.testing.assert_array_equal(y["sum"], x["a"] + x["b"][:, :1])
        np.testing.assert_array_equal(y["a"], x["a"])


def test_rows_of_another_shape_or_dtype_open_the_next_batch():
    shapes = []

    def model(rows):
        shapes.append((rows.shape, rows.dtype.name))
        return rows * 2

    async def main():
        b = DynamicBatcher(model, max_batch_size=64, max_delay_ms=5)
        items = [np.ones((1, 3)), np.ones((2, 3)), np.ones((1, 5)), np.ones((1, 5), np.float32), np.ones((1, 3))]
        outs = await asyncio.gather(*(b.submit(x) for x in items))
        await b.stop()
        return items, outs

    items, outs = run(main())
    # first come, first served: a batch closes at the first item it cannot hold
    assert shapes == [((3, 3), "float64"), ((1, 5), "float64"), ((1, 5), "float32"), ((1, 3), "float64")]
    for x, y in zip(items, outs, strict=True):
        np.testing.assert_array_equal(y, x * 2)


def test_quick_calls_run_on_the_event_loop_once_measured_and_slow_ones_stay_in_a_thread():
    import threading
    import time

    where: list[tuple[int, bool]] = []

    def fn(rows):
        if len(rows) > 4:
            time.sleep(0.002)  # slower than INLINE_S
        where.append((len(rows), threading.current_thread() is threading.main_thread()))
        return rows * 2

    async def main():
        b = DynamicBatcher(fn, max_batch_size=64, max_delay_ms=1)
        outs = []
        for n in (1, 1, 1, 8, 8):
            outs.append(await b.submit(np.ones((n, 2))))
        await b.stop()
        return outs

    outs = run(main())
    assert [o.shape[0] for o in outs] == [1, 1, 1, 8, 8] and all((o == 2).all() for o in outs)
    # The first 1-row call is unmeasured: a thread. Then 1 row is known to be quick: the loop (main thread).
    assert where == [(1, False), (1, True), (1, True), (8, False), (8, False)]
