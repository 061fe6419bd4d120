"""One engine per loaded model: how its requests reach onnxruntime (batched or not), and its admission."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from service.decoding.sampling import StepSampler
from service.decoding.top_k import StepTopK, TopK
from service.engine.admission import Admission
from service.engine.batcher import DynamicBatcher
from service.engine.scheduler import Axes, StepJob, StepScheduler
from service.engine.state import BoundState, HostState, StateKeeper
from service.metrics import Metrics
from service.runtimes import captioner, generator, translator
from service.runtimes.base import ModelRuntime
from service.runtimes.classifier import ClassifierRuntime
from service.runtimes.sessions import CUDA, primary_provider
from service.settings import Settings


class Engine:
    def __init__(self, name: str, runtime: ModelRuntime, settings: Settings, metrics: Metrics) -> None:
        self.name, self.runtime, self.settings, self.metrics = name, runtime, settings, metrics
        self.admission = Admission(name, settings.max_queue)
        batching = runtime.manifest.batching
        self.max_batch_size = settings.max_batch_size or batching.max_batch_size
        self.max_delay_ms = batching.max_delay_ms if settings.max_delay_ms is None else settings.max_delay_ms

    async def stop(self) -> None:
        return None


class ClassifierEngine(Engine):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.runtime, ClassifierRuntime)
        self.batcher = None
        if self.settings.batching:
            observe = self.metrics.observe_batch(self.name)
            self.batcher = DynamicBatcher(self.runtime.predict, self.max_batch_size, self.max_delay_ms, observe)

    async def predict(self, rows: np.ndarray) -> np.ndarray:
        if self.batcher is not None:
            return await self.batcher.submit(rows)
        started = time.perf_counter()
        out = await asyncio.to_thread(self.runtime.predict, rows)
        self.metrics.observe_batch(self.name)(len(rows), 0.0, time.perf_counter() - started)
        return out

    async def stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()


class DecoderEngine(Engine):
    """Continuous batching: all jobs of this model advance together, one decoder-step call per iteration."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        rt = self.runtime
        module = {
            generator.GeneratorRuntime: generator,
            translator.TranslatorRuntime: translator,
            captioner.CaptionerRuntime: captioner,
        }[type(rt)]
        axes = {k: module.STEP_INPUTS[k].batch for k in module.STATE}
        keeper: StateKeeper
        step = rt.sessions[module.STEP_GRAPH]
        if self.settings.device_state == "true" or (
            self.settings.device_state == "auto" and primary_provider(step) == CUDA
        ):
            keeper = BoundState(step, module.STATE, axes)
        else:
            keeper = HostState(rt.step_feeds, module.STATE, axes)  # type: ignore[attr-defined]
        outputs, reduce = module.STEP_OUTPUTS, None
        if (scored := getattr(module, "TOP_K", None)) is not None:
            reduce = StepTopK(scored, TopK(self.settings.intra_op_threads))
        elif (scored := getattr(module, "SAMPLE", None)) is not None:
            reduce = StepSampler(scored)
        if reduce is not None:
            outputs = {k: a for k, a in outputs.items() if k != scored} | {k: Axes(0) for k in reduce.outputs}
        self.scheduler = StepScheduler(
            keeper,
            module.STEP_INPUTS,
            outputs,
            max_rows=self.settings.max_decoder_rows,
            max_jobs=None if self.settings.batching else 1,
            observe=self.metrics.observe_step(self.name),
            reduce=reduce,
        )

    async def run(self, job: StepJob) -> None:
        await self.scheduler.run(job)

    async def stop(self) -> None:
        await self.scheduler.stop()


class CaptionerEngine(DecoderEngine):
    """The photo encoder is dynamically batched across requests; the decoder steps are continuously batched."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        rt = self.runtime
        assert isinstance(rt, captioner.CaptionerRuntime)
        self.batcher = None
        if self.settings.batching:
            observe = self.metrics.observe_batch(self.name)
            self.batcher = DynamicBatcher(rt.encode, self.max_batch_size, self.max_delay_ms, observe)

    async def encode(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        rt = self.runtime
        assert isinstance(rt, captioner.CaptionerRuntime)
        if self.batcher is not None:
            out = await self.batcher.submit(rows)
            assert isinstance(out, dict)
            return out
        started = time.perf_counter()
        out = await asyncio.to_thread(rt.encode, rows)
        self.metrics.observe_batch(self.name)(len(rows), 0.0, time.perf_counter() - started)
        return out

    async def stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
        await super().stop()


def make_engine(name: str, runtime: ModelRuntime, settings: Settings, metrics: Metrics) -> Engine:
    if isinstance(runtime, ClassifierRuntime):
        return ClassifierEngine(name, runtime, settings, metrics)
    if isinstance(runtime, captioner.CaptionerRuntime):
        return CaptionerEngine(name, runtime, settings, metrics)
    return DecoderEngine(name, runtime, settings, metrics)
