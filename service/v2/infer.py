"""One v2 inference, whatever the wire: the tensors checked against the graph, then the graph run within the
call's deadline and admission slot, on its own or, for a runtime that batches its v2 graph, merged with other
requests' rows by the model's batcher. The REST route (service/routers/v2.py) and the gRPC servicer
(service/grpc/servicer.py) each decode their request into an `InferRequest` and tensors, and encode the outputs."""

from __future__ import annotations

import asyncio

import numpy as np
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument

from service.dependencies import ModelCall
from service.errors import BadRequest
from service.schemas.v2 import InferRequest
from service.v2 import codec
from service.v2.targets import Target


def run_graph(target: Target, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    try:
        return target.session.run(outputs, feeds)
    except (Fail, InvalidArgument) as e:
        # The tensors passed the metadata checks but not the graph's own (e.g. a token id past the vocabulary).
        raise BadRequest(f"model {target.name!r} could not run on these inputs: {e}") from None


async def run_batched(call: ModelCall, target: Target, feeds: dict[str, np.ndarray], outputs: list[str]):
    """The request's rows merged with other requests' into one call of the graph (its first axis)."""
    rows = {name: len(x) for name, x in feeds.items()}
    if len(set(rows.values())) > 1:
        raise BadRequest(f"model {target.name!r} takes one batch: every input has the same first dimension; got {rows}")
    try:
        out = await call.engine.batch(feeds)
    except (Fail, InvalidArgument) as e:
        raise BadRequest(f"model {target.name!r} could not run on these inputs: {e}") from None
    return [out[name] for name in outputs]


async def run_inference(
    call: ModelCall, target: Target, request: InferRequest, tensors: dict[str, np.ndarray]
) -> tuple[list[codec.Requested], list[np.ndarray]]:
    """The outputs asked for (all when none are named) and their arrays; 400 for inputs the graph cannot take."""
    codec.check_inputs(tensors, request, target.spec, target.name)
    wanted = codec.requested_outputs(request, target.spec, target.name)
    names = [w.name for w in wanted]
    if target.runtime.v2_batches(target.graph):
        outputs = await call.run(run_batched(call, target, tensors, names))
    else:
        outputs = await call.run(asyncio.to_thread(run_graph, target, tensors, names))
    return wanted, outputs
