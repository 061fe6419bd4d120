"""Deadlines and disconnects: run a request's work, and drop it when its deadline passes or its client leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request

from service.errors import DeadlineExceeded, InvalidInput

T = TypeVar("T")
HEADER = "x-request-timeout"
MAX_TIMEOUT_S = 600.0
WATCH_AFTER_S = 0.05  # work still running after this long gets a watcher for its client's disconnect


def deadline_seconds(request: Request, default: float) -> float:
    """The request's deadline: the X-Request-Timeout header (seconds) when given, else the default."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_TIMEOUT_S:
        raise InvalidInput(f"X-Request-Timeout is {raw!r}; send seconds in (0, {MAX_TIMEOUT_S:g}]")
    return value


async def wait_for_disconnect(request: Request) -> None:
    """Returns when the client goes away (call only once the body has been read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class ClientGone(Exception):
    """The client disconnected; its work was cancelled."""


async def guarded(
    work: Awaitable[T],
    timeout: float,
    deadline: float | None = None,
    gone: Callable[[], Awaitable[None]] | None = None,
    watch_after: float = WATCH_AFTER_S,
) -> T:
    """Await `work`; cancel it and raise DeadlineExceeded past `timeout`, or ClientGone once `gone()` returns.

    `deadline` is the request's whole deadline, for the message, when `timeout` is what is left of it. `gone`
    makes the awaitable that watches the client (HTTP: `wait_for_disconnect`); a gRPC call needs none, as grpc
    cancels its handler.

    The work runs in the calling task under a timeout scope. The watcher starts only for work still running
    `watch_after` seconds on: a task per request costs more than a quick request, while longer work (a
    generation, a beam search, a long queue) is still dropped as soon as its client leaves."""
    caller = asyncio.current_task()
    assert caller is not None, "guarded() runs in a task"
    left = finished = False
    watcher: asyncio.Future | None = None

    def client_left(w: asyncio.Future) -> None:
        nonlocal left
        # `finished`: the callback was scheduled as the work ended; the caller has moved on and must not be hit.
        if not finished and not w.cancelled() and w.exception() is None:
            left = True
            caller.cancel()

    def watch() -> None:
        nonlocal watcher
        assert gone is not None
        watcher = asyncio.ensure_future(gone())
        watcher.add_done_callback(client_left)

    timer = None if gone is None else asyncio.get_running_loop().call_later(watch_after, watch)
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await work
    except TimeoutError:
        if not scope.expired():
            raise  # the work's own TimeoutError, not the deadline
        whole = timeout if deadline is None else deadline
        raise DeadlineExceeded(
            f"the request did not finish within its deadline of {whole:g} s; its work was dropped"
        ) from None
    except asyncio.CancelledError:
        if not left:
            raise  # cancelled from outside (shutdown): not ours to swallow
        caller.uncancel()
        raise ClientGone() from None
    finally:
        finished = True
        if timer is not None:
            timer.cancel()
        if watcher is not None:
            watcher.remove_done_callback(client_left)
            watcher.cancel()
        if asyncio.iscoroutine(work):
            work.close()  # never awaited when the watcher fired first; no "never awaited" warning
