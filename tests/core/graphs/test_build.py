"""The helper graphs committed in core/graphs are exactly what core.graphs.build writes, and they
select rows as documented (top_k's behaviour: tests/core/decoding/test_top_k.py)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from core.graphs.build import SHAPES, TOP_K_PATH, select_rows, select_rows_path, top_k


@pytest.mark.parametrize(("rank", "axis"), SHAPES)
def test_committed_select_rows_graph_is_current(rank, axis):
    assert select_rows_path(rank, axis).read_bytes() == select_rows(rank, axis).SerializeToString()


@pytest.mark.parametrize(("rank", "axis"), SHAPES)
def test_select_rows_gathers_then_appends(rank, axis):
    sess = ort.InferenceSession(str(select_rows_path(rank, axis)), providers=["CPUExecutionProvider"])
    shape = [3] * rank
    prev = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    fresh_shape = list(shape)
    fresh_shape[axis] = 2
    fresh = -np.ones(fresh_shape, np.float32)
    keep = np.array([2, 0], np.int64)
    (rows,) = sess.run(None, {"prev": prev, "keep": keep, "fresh": fresh})
    np.testing.assert_array_equal(rows, np.concatenate([np.take(prev, keep, axis=axis), fresh], axis=axis))


def test_committed_top_k_graph_is_current():
    assert TOP_K_PATH.read_bytes() == top_k().SerializeToString()
