"""One engine per loaded model: how its requests reach onnxruntime, and its admission.

What the engine does follows from what the runtime declares (service/runtimes/spec.py): a `batch_call` gets a
dynamic batcher, a `step_spec` gets a step scheduler with its state keeper and per-step reducer; the engine
knows no model family.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from core.decoding.sampling import StepSampler
from core.decoding.top_k import StepTopK, TopK
from service.engine.admission import Admission
from service.engine.batcher import DynamicBatcher, Rows, count
from service.engine.scheduler import Reducer, StepJob, StepScheduler
from service.engine.state import BoundState, HostState, StateKeeper
from service.metrics import Metrics
from service.runtimes.base import ModelRuntime
from service.runtimes.sessions import CUDA, primary_provider
from service.runtimes.spec import Axes, StepSpec, engine_kind
from service.settings import Settings


class Engine:
    def __init__(self, name: str, runtime: ModelRuntime, settings: Settings, metrics: Metrics) -> None:
        self.name, self.runtime, self.settings, self.metrics = name, runtime, settings, metrics
        self.admission = Admission(name, settings.max_queue)
        batching = runtime.manifest.batching
        self.max_batch_size = settings.max_batch_size or batching.max_batch_size
        self.max_delay_ms = batching.max_delay_ms if settings.max_delay_ms is None else settings.max_delay_ms
        self.kind = engine_kind(runtime.batch_call is not None, runtime.step_spec is not None)  # the instance's
        self.batcher: DynamicBatcher | None = None
        self.scheduler: StepScheduler | None = None
        if runtime.batch_call is not None:
            self._batch_fn = getattr(runtime, runtime.batch_call)
            if settings.batching:
                observe = metrics.observe_batch(name)
                self.batcher = DynamicBatcher(self._batch_fn, self.max_batch_size, self.max_delay_ms, observe)
        if runtime.step_spec is not None:
            self.scheduler = self._scheduler(runtime.step_spec)

    def _scheduler(self, spec: StepSpec) -> StepScheduler:
        keeper: StateKeeper
        step = self.runtime.sessions[spec.graph]
        device = self.settings.device_state
        if device == "true" or (device == "auto" and primary_provider(step) == CUDA):
            keeper = BoundState(step, spec.state, spec.state_axes)
        else:
            keeper = HostState(self.runtime.run_step, spec.state, spec.state_axes)
        reduce: Reducer | None = None
        outputs = spec.outputs
        if spec.reduce == "top_k":
            reduce = StepTopK(spec.scored, TopK(self.settings.intra_op_threads))
        elif spec.reduce == "sample":
            reduce = StepSampler(spec.scored)
        if reduce is not None:  # the jobs get the reducer's outputs instead of the scored one
            outputs = {k: a for k, a in outputs.items() if k != spec.scored} | {k: Axes(0) for k in reduce.outputs}
        return StepScheduler(
            keeper,
            spec.inputs,
            outputs,
            max_rows=self.settings.max_decoder_rows,
            max_jobs=None if self.settings.batching else 1,
            observe=self.metrics.observe_step(self.name),
            reduce=reduce,
        )

    def announce(self) -> contextlib.AbstractContextManager[Any]:
        """Held while a request preprocesses: the batcher waits for rows it knows are coming."""
        return self.batcher.announce() if self.batcher is not None else contextlib.nullcontext()

    async def batch(self, rows: Rows) -> Rows:
        """The runtime's `batch_call` on these rows, merged with other requests' rows when batching is on."""
        if self.batcher is not None:
            return await self.batcher.submit(rows)
        started = time.perf_counter()
        out = await asyncio.to_thread(self._batch_fn, rows)
        self.metrics.observe_batch(self.name)(count(rows), 0.0, time.perf_counter() - started)
        return out

    async def run(self, job: StepJob) -> None:
        """Advance a decoder job to its end with the other requests' jobs."""
        if self.scheduler is None:
            raise TypeError(f"model {self.name!r} declares no decoder step")
        await self.scheduler.run(job)

    async def stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
