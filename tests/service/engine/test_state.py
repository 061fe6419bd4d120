"""The decoder state keepers on the real committed step graphs: the I/O-bound keeper (state in onnxruntime
memory, rows selected by the select_rows graph) gives exactly what the NumPy keeper gives while rows leave,
are reordered, and join."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from service.engine.state import BoundState, HostState
from tests.tests_support import MODELS

CPU = ["CPUExecutionProvider"]


def session(model: str, graph: str) -> ort.InferenceSession:
    return ort.InferenceSession(str(MODELS / model / "1" / f"{graph}.onnx"), providers=CPU)


def gru_feeds(rng, rows: int, src: int = 6) -> dict[str, np.ndarray]:
    return {
        "tokens": rng.integers(4, 500, rows).astype(np.int64),
        "memory": rng.standard_normal((rows, src, 512)).astype(np.float32),
        "keys": rng.standard_normal((rows, src, 256)).astype(np.float32),
        "mask": np.ones((rows, src), np.float32),
    }


def lstm_feeds(rng, rows: int) -> dict[str, np.ndarray]:
    return {"tokens": rng.integers(0, 65, rows).astype(np.int64)}


CASES = {
    # model, graph, state pairs, batch axes, state shape for n rows, non-state feeds for n rows
    "gru-en-fr": ("decoder_step", {"state": "state_out"}, {"state": 0}, lambda n: (n, 512), gru_feeds),
    "charlstm-shakespeare": ("step", {"h": "h_out", "c": "c_out"}, {"h": 1, "c": 1}, lambda n: (2, n, 512), lstm_feeds),
}


@pytest.mark.parametrize("model", CASES)
def test_bound_state_equals_host_state_while_rows_leave_reorder_and_join(model):
    graph, pairs, axes, shape, feeds_for = CASES[model]
    sess = session(model, graph)
    inputs = {i.name for i in sess.get_inputs()}
    outputs = [o.name for o in sess.get_outputs()]

    def host_step(feeds):
        return dict(zip(outputs, sess.run(outputs, {k: v for k, v in feeds.items() if k in inputs}), strict=True))

    bound, host = BoundState(sess, pairs, axes), HostState(host_step, pairs, axes)
    rng = np.random.default_rng(0)
    fresh = {k: rng.standard_normal(shape(3)).astype(np.float32) for k in pairs}
    # (rows kept from the last step, rows joining): first step, then reorder + drop, join, keep all, all leave + join
    plan = [(None, 3), ([2, 0], 0), ([1, 0], 2), ([0, 1, 2, 3], 0), ([], 1)]
    b_state = h_state = None
    for keep, joining in plan:
        keep_idx = np.array(keep if keep is not None else [], np.int64)
        new = {k: rng.standard_normal(shape(joining)).astype(np.float32) for k in pairs} if joining else None
        if keep is None:
            new = fresh
        b_state = bound.select(b_state, keep_idx, new)
        h_state = host.select(h_state, keep_idx, new)
        assert all(isinstance(v, ort.OrtValue) and v.device_name() == "cpu" for v in b_state.values())
        rows = bound.rows(b_state)
        assert rows == host.rows(h_state) == len(keep_idx) + (joining if keep is not None else 3)
        feeds = feeds_for(rng, rows)
        b_out, b_state = bound.run(feeds, b_state)
        h_out, h_state = host.run(feeds, h_state)
        assert set(b_out) == set(h_out) == set(outputs) - set(pairs.values())
        for k in b_out:
            np.testing.assert_array_equal(b_out[k], h_out[k])
        on_host = bound.to_host(b_state)
        for k in pairs:
            np.testing.assert_array_equal(on_host[k], h_state[k])


def test_bound_state_leaves_an_unchanged_state_in_place():
    sess = session("gru-en-fr", "decoder_step")
    bound = BoundState(sess, {"state": "state_out"}, {"state": 0})
    state = bound.select(None, np.zeros(0, np.int64), {"state": np.ones((4, 512), np.float32)})
    assert bound.select(state, np.arange(4), None)["state"] is state["state"]  # no copy at all
    moved = bound.select(state, np.array([3, 1]), None)["state"]
    assert moved is not state["state"] and moved.shape() == [2, 512]
