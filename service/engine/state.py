"""Where a decoder's recurrent state lives between continuous-batching steps.

The scheduler keeps the merged state of all live rows and, between steps, selects the rows that continue
(finished rows leave, beams are reordered) and appends the rows of joining requests. Two keepers:

- `BoundState` (the default under CUDA, `DLSERVE_DEVICE_STATE=true` elsewhere): the state stays in
  onnxruntime's memory through I/O binding: the step writes `state_out` into an OrtValue on the session's
  device (the GPU under CUDA) and a tiny Gather+Concat graph selects rows on that device, so the state never
  round-trips through host memory. Only the step's other inputs (tokens, encoder memory) are copied in and its
  other outputs (log-probs, attention) copied out.
- `HostState`: the state as NumPy arrays (the default on the CPU, where an extra session run per step to select
  rows costs more than NumPy's copies of a few KB; and the scheduler's unit tests).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

import core.graphs
from service.runtimes.sessions import CUDA, primary_provider

State = dict[str, Any]  # state input name -> (.., rows, ..) tensor: np.ndarray or ort.OrtValue
GRAPHS = Path(core.graphs.__file__).resolve().parent


class StateKeeper(Protocol):
    pairs: dict[str, str]  # state input -> the step output that carries it to the next step

    def select(self, prev: State | None, keep: np.ndarray, fresh: dict[str, np.ndarray] | None) -> State:
        """Rows `keep` of `prev` (in that order) followed by the `fresh` rows."""
        ...

    def run(self, feeds: dict[str, np.ndarray], state: State) -> tuple[dict[str, np.ndarray], State]:
        """One decoder step: host outputs (everything but the state) and the next state."""
        ...

    def rows(self, state: State) -> int: ...

    def to_host(self, state: State) -> dict[str, np.ndarray]: ...


StepFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class HostState:
    """The state as NumPy arrays; `step` is a plain function of named arrays."""

    def __init__(self, step: StepFn, pairs: dict[str, str], axes: dict[str, int]) -> None:
        self.step, self.pairs, self.axes = step, pairs, axes

    def select(self, prev: State | None, keep: np.ndarray, fresh: dict[str, np.ndarray] | None) -> State:
        out = {}
        for name, axis in self.axes.items():
            parts = [np.take(prev[name], keep, axis=axis)] if prev is not None and len(keep) else []
            parts += [fresh[name]] if fresh is not None else []
            out[name] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)
        return out

    def run(self, feeds: dict[str, np.ndarray], state: State) -> tuple[dict[str, np.ndarray], State]:
        outs = self.step({**feeds, **state})
        carried = set(self.pairs.values())
        return {k: v for k, v in outs.items() if k not in carried}, {i: outs[o] for i, o in self.pairs.items()}

    def rows(self, state: State) -> int:
        name, axis = next(iter(self.axes.items()))
        return int(state[name].shape[axis])

    def to_host(self, state: State) -> dict[str, np.ndarray]:
        return state


class BoundState:
    """The state as OrtValues on the step session's device, selected there by select_rows_r{rank}_a{axis}."""

    def __init__(self, session: ort.InferenceSession, pairs: dict[str, str], axes: dict[str, int]) -> None:
        self.session, self.pairs, self.axes = session, pairs, axes
        providers = session.get_providers()
        self.device = "cuda" if primary_provider(session) == CUDA else "cpu"
        self.inputs = {i.name: len(i.shape) for i in session.get_inputs()}
        self.host_outputs = [o.name for o in session.get_outputs() if o.name not in pairs.values()]
        self.selectors = {}
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        for name, axis in axes.items():
            path = GRAPHS / f"select_rows_r{self.inputs[name]}_a{axis}.onnx"
            self.selectors[name] = ort.InferenceSession(str(path), sess_options=options, providers=providers)

    def _upload(self, array: np.ndarray) -> ort.OrtValue:
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array, np.float32), self.device, 0)

    def select(self, prev: State | None, keep: np.ndarray, fresh: dict[str, np.ndarray] | None) -> State:
        if prev is None or not len(keep):
            assert fresh is not None, "select needs kept rows or fresh rows"
            return {name: self._upload(fresh[name]) for name in self.axes}
        out = {}
        for name, axis in self.axes.items():
            value = prev[name]
            if fresh is None and len(keep) == value.shape()[axis] and np.array_equal(keep, np.arange(len(keep))):
                out[name] = value  # every row continues in place: nothing to do
                continue
            if fresh is None:
                shape = list(value.shape())
                shape[axis] = 0
                rows = np.zeros(shape, np.float32)
            else:
                rows = fresh[name]
            binding = self.selectors[name].io_binding()
            binding.bind_ortvalue_input("prev", value)
            binding.bind_cpu_input("keep", np.ascontiguousarray(keep, np.int64))
            binding.bind_cpu_input("fresh", np.ascontiguousarray(rows, np.float32))
            binding.bind_output("rows", self.device, 0)
            self.selectors[name].run_with_iobinding(binding)
            out[name] = binding.get_outputs()[0]
        return out

    def run(self, feeds: dict[str, np.ndarray], state: State) -> tuple[dict[str, np.ndarray], State]:
        binding = self.session.io_binding()
        for name, array in feeds.items():
            if name in self.inputs:  # a graph may drop an unused input (the attention-free captioner's keys)
                binding.bind_cpu_input(name, np.ascontiguousarray(array))
        for name, value in state.items():
            binding.bind_ortvalue_input(name, value)
        for name in self.host_outputs:
            binding.bind_output(name, "cpu")
        for name in self.pairs.values():
            binding.bind_output(name, self.device, 0)  # stays where the step computed it
        self.session.run_with_iobinding(binding)
        values = binding.get_outputs()
        host = {name: values[i].numpy() for i, name in enumerate(self.host_outputs)}
        n = len(self.host_outputs)
        return host, {i: values[n + k] for k, i in enumerate(self.pairs)}

    def rows(self, state: State) -> int:
        name, axis = next(iter(self.axes.items()))
        return int(state[name].shape()[axis])

    def to_host(self, state: State) -> dict[str, np.ndarray]:
        return {name: value.numpy() for name, value in state.items()}
