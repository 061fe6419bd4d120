"""Deadlines and disconnects: run a request's work, and drop it when its deadline passes or its client leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

from service.errors import DeadlineExceeded, InvalidInput

T = TypeVar("T")
HEADER = "x-request-timeout"
MAX_TIMEOUT_S = 600.0


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
    work: Awaitable[T], timeout: float, deadline: float | None = None, gone: Awaitable[None] | None = None
) -> T:
    """Await `work`; cancel it and raise DeadlineExceeded past `timeout`, or ClientGone once `gone` returns.

    `deadline` is the request's whole deadline, for the message, when `timeout` is what is left of it. `gone`
    watches the client (HTTP: `wait_for_disconnect`); a gRPC call needs none, as grpc cancels its handler."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(gone) if gone is not None else None
    try:
        waits = {task} if watcher is None else {task, watcher}
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        if watcher in done:
            raise ClientGone()
        whole = timeout if deadline is None else deadline
        raise DeadlineExceeded(f"the request did not finish within its deadline of {whole:g} s; its work was dropped")
    finally:
        for t in (task, watcher):
            if t is not None and not t.done():
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
