"""The gRPC server's life: started in the app's lifespan, on the event loop uvicorn runs the app on, once the
models have begun loading (ServerReady says false until they are ready, as /v2/health/ready does); stopped
at shutdown before the models are, letting calls in flight finish within what is left of the grace period.

`with_grpc(app)` wires it in; `dlserve serve` does so (service/server.py). With DLSERVE_WORKERS > 1 every
worker process serves gRPC on the same port (SO_REUSEPORT: the kernel spreads connections over them, as the
shared socket spreads HTTP's); with one process the port is taken exclusively, so a port already in use fails
the start instead of being shared with another server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from fastapi import FastAPI
from tritonclient.grpc import service_pb2_grpc

from service.grpc.rpc import Rpc
from service.grpc.servicer import Servicer

log = logging.getLogger("dlserve")


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start(app: FastAPI, reuse_port: bool = False) -> grpc.aio.Server:
    """A started gRPC server for `app`'s models and settings (call it on the loop that serves the app)."""
    state = app.state
    settings = state.settings
    options = [
        # DLSERVE_MAX_UPLOAD_BYTES bounds a message as it bounds a body: grpc refuses a larger one itself
        # (RESOURCE_EXHAUSTED) before it is decoded.
        ("grpc.max_receive_message_length", settings.max_upload_bytes),
        ("grpc.max_send_message_length", -1),
        ("grpc.so_reuseport", int(reuse_port)),
    ]
    server = grpc.aio.server(options=options)
    rpc = Rpc(settings, state.metrics, state.drain)
    servicer = Servicer(state.repository, settings, state.drain, rpc, app.version)
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    where = address(settings.host, settings.grpc_port)
    try:
        server.add_insecure_port(where)
    except RuntimeError as e:
        raise RuntimeError(f"gRPC could not listen on {where} (DLSERVE_GRPC_PORT; 0 turns gRPC off): {e}") from None
    await server.start()
    log.info("gRPC (Open Inference Protocol) on %s", where)
    return server


def with_grpc(app: FastAPI, reuse_port: bool = False) -> FastAPI:
    """`app`, serving gRPC for its lifetime as well when DLSERVE_GRPC_PORT is not 0."""
    settings = app.state.settings
    if not settings.grpc_port:
        return app
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[object]:
        async with inner(a) as state:  # the models start loading
            server = await start(a, reuse_port)
            try:
                yield state
            finally:
                # After a drain (service/server.py) nothing is in flight; otherwise calls get what is left of
                # the grace period, as HTTP connections do, then are cancelled.
                await server.stop(max(settings.shutdown_grace_s - a.state.drain.elapsed(), 0.1))
                log.info("gRPC stopped")

    app.router.lifespan_context = lifespan
    return app
