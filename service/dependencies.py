"""Request policy as FastAPI dependencies: the app state, and `ModelCalls`, the one place where a typed route's
request finds its model, takes an admission slot and gets its deadline and disconnect handling.

A handler is schema in, runtime call, schema out:

    async with calls.admit(ClassifierRuntime, model, version) as call:
        names, rows = await call.images()                # upload, decode, the model's recipe
        out = await call.run(call.engine.batch(call.runtime.feeds(rows)))
        # run: within the deadline; the work is dropped if the client leaves

The getters are `async def`: FastAPI would run a plain `def` dependency in its thread pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Generic, TypeVar

import numpy as np
from fastapi import Depends, Request

from service.engine.engines import Engine
from service.engine.lifecycle import deadline_seconds, guarded, wait_for_disconnect
from service.errors import DeadlineExceeded, ModelNotReady
from service.metrics import Metrics
from service.preprocessing.images import decode_images
from service.repository import ModelEntry, ModelRepository
from service.runtimes.base import ModelRuntime
from service.settings import Settings
from service.shutdown import Drain
from service.uploads import uploaded_images

R = TypeVar("R", bound=ModelRuntime)
T = TypeVar("T")


async def get_repository(request: Request) -> ModelRepository:
    return request.app.state.repository


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_drain(request: Request) -> Drain:
    return request.app.state.drain


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


RepositoryDep = Annotated[ModelRepository, Depends(get_repository)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DrainDep = Annotated[Drain, Depends(get_drain)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


class ModelCall(Generic[R]):
    """One request's use of one served model: its entry, runtime and engine, and the time it has left.

    `request` is the HTTP request, watched for a disconnect; a gRPC call has none (service/grpc/servicer.py):
    grpc cancels the handler itself when its client leaves or its deadline passes."""

    def __init__(
        self, request: Request | None, entry: ModelEntry, runtime: R, settings: Settings, timeout: float
    ) -> None:
        self.request, self.entry, self.runtime, self.settings = request, entry, runtime, settings
        if entry.engine is None:  # unloaded between lookup and call
            raise ModelNotReady(f"model {entry.name!r} is {entry.status.value}")
        self.engine: Engine = entry.engine
        self.deadline = time.perf_counter() + timeout
        self.timeout = timeout

    @property
    def version(self) -> int:
        return self.entry.version or 0

    def remaining(self) -> float:
        return max(self.deadline - time.perf_counter(), 1e-3)

    async def run(self, work: Awaitable[T]) -> T:
        """Await `work` within what is left of the deadline (504 past it); drop it if the client disconnects."""
        request = self.request
        gone = None if request is None else lambda: wait_for_disconnect(request)
        return await guarded(work, self.remaining(), self.timeout, gone)

    async def images(self) -> tuple[list[str], np.ndarray]:
        """The uploaded images' names and their rows, each prepared by the runtime's `preprocess`."""
        s = self.settings
        assert self.request is not None, "images come in an HTTP request's body"
        with self.engine.announce():  # a forming batch waits for these rows
            images = await uploaded_images(self.request, s.max_upload_bytes, s.max_images_per_request)
            rows = await decode_images(images, s.max_image_pixels, self.runtime.preprocess)
        return [name for name, _ in images], rows

    async def __aenter__(self) -> ModelCall[R]:
        """Take an admission slot for the block (429 when the model's queue is full)."""
        self.engine.admission.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.engine.admission.release()

    async def stream(self, events: AsyncIterator[str], on_error: Callable[[Exception], str]) -> AsyncIterator[str]:
        """`events` holding an admission slot from its first item to its last, within the deadline.

        The status line is sent before the first event, so an error afterwards (the deadline included) ends
        the stream with `on_error(exc)`; a client that leaves cancels the stream and so its work. One timer
        per stream, not per item: past the deadline it cancels the wait for the next item, or, while an item
        is being sent, the stream ends after it."""
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        waiting = expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            if waiting and task is not None:
                task.cancel()

        self.engine.admission.acquire()
        timer = loop.call_at(loop.time() + self.remaining(), expire)
        try:
            while not expired:
                waiting = True
                try:
                    item = await anext(events)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if not expired or task is None:
                        raise  # the client went away
                    task.uncancel()
                    break
                except Exception as exc:
                    yield on_error(exc)
                    return
                finally:
                    waiting = False
                yield item
            message = f"the stream did not finish within its deadline of {self.timeout:g} s; its work was dropped"
            yield on_error(DeadlineExceeded(message))
        finally:
            timer.cancel()
            await events.aclose()
            self.engine.admission.release()


class ModelCalls:
    """The dependency behind every typed route: finds the model and admits the request to it."""

    def __init__(self, request: Request, repository: ModelRepository, settings: Settings) -> None:
        self.request, self.repository, self.settings = request, repository, settings

    def admit(self, runtime: type[R], model: str | None, version: int | None) -> ModelCall[R]:
        """The served model (by name, or the task's default), checked to be a `runtime`; 4xx/503 if not.
        `async with` the call holds an admission slot (429 when the queue is full) for the block."""
        entry = self.repository.serving(runtime.task, model, version)
        served = entry.runtime
        if not isinstance(served, runtime):  # a manifest's own runtime that does not extend the task's
            raise ModelNotReady(f"model {entry.name!r} is served by {type(served).__name__}, not {runtime.__name__}")
        return self.call(entry, served)

    def call(self, entry: ModelEntry, runtime: R) -> ModelCall[R]:
        """A call to a served entry (what `admit` found, or a v2 target's entry) with the request's deadline."""
        self.request.state.model = entry.name
        timeout = deadline_seconds(self.request, self.settings.request_timeout_s)
        return ModelCall(self.request, entry, runtime, self.settings, timeout)

    def open_stream(self, runtime: type[R], model: str | None, version: int | None) -> ModelCall[R]:
        """`admit`, and 429 now when the queue is full; the slot itself is taken when the stream starts."""
        call = self.admit(runtime, model, version)
        call.engine.admission.check()
        return call


async def get_calls(request: Request) -> ModelCalls:
    state = request.app.state
    return ModelCalls(request, state.repository, state.settings)


CallsDep = Annotated[ModelCalls, Depends(get_calls)]
