"""The per-call policy's pure parts: each project error as its gRPC status, and which calls need a key. The
calls themselves (request ids, metrics, the drain count, aborts) run through real servers:
tests/service/grpc/test_server.py and the integration tests."""

from __future__ import annotations

import logging

import grpc
import pytest

from core.errors import InputError
from service.errors import (
    BadRequest,
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    PayloadTooLarge,
    ServiceError,
    Unauthorized,
    UnsupportedMediaType,
)
from service.grpc.rpc import DEADLINE_SLACK_S, Rpc, ran_out, refusal
from service.metrics import Metrics
from service.settings import Settings
from service.shutdown import Drain

S = grpc.StatusCode


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (BadRequest("b"), S.INVALID_ARGUMENT), (InvalidInput("i"), S.INVALID_ARGUMENT),
        (UnsupportedMediaType("u"), S.INVALID_ARGUMENT), (Unauthorized("k"), S.UNAUTHENTICATED),
        (ModelNotFound("n"), S.NOT_FOUND), (PayloadTooLarge("p"), S.RESOURCE_EXHAUSTED),
        (Overloaded("o"), S.RESOURCE_EXHAUSTED), (ModelNotReady("r"), S.UNAVAILABLE),
        (DeadlineExceeded("d"), S.DEADLINE_EXCEEDED), (ServiceError("s"), S.INTERNAL),
        (InputError("shared code"), S.INVALID_ARGUMENT),
    ],
)  # fmt: skip
def test_every_error_has_its_status_and_keeps_its_message(error, code):
    refused = refusal(error, "rid")
    assert refused.code == code and refused.message == error.message
    assert refused.metadata == ((("retry-after", "1"),) if isinstance(error, Overloaded) else ())


def test_an_unexpected_error_is_logged_and_names_only_the_request_id(caplog):
    with caplog.at_level(logging.ERROR, logger="dlserve"):
        refused = refusal(KeyError("secret detail"), "rid-9")
    assert (refused.code, refused.message) == (S.INTERNAL, "internal server error (request rid-9)")
    assert "rid-9" in caplog.text and caplog.records[0].exc_info is not None


def test_which_calls_need_a_key():
    rpc = Rpc(Settings(api_keys=["k"]), Metrics(), Drain())
    rpc.authorize("ServerLive", {})  # the probes are open, as /v2/health/live and /ready are by default
    rpc.authorize("ServerReady", {})
    for method in ("ModelInfer", "ServerMetadata", "RepositoryModelLoad"):
        with pytest.raises(Unauthorized, match="an API key is required"):
            rpc.authorize(method, {})
        with pytest.raises(Unauthorized, match="not valid"):
            rpc.authorize(method, {"x-api-key": "nope"})
        rpc.authorize(method, {"authorization": "Bearer k"})
        rpc.authorize(method, {"x-api-key": "k"})
    closed = Rpc(Settings(api_keys=["k"], auth_open_paths=["/healthz"]), Metrics(), Drain())
    with pytest.raises(Unauthorized):
        closed.authorize("ServerLive", {})  # /v2/health/live not open: neither is its call
    Rpc(Settings(), Metrics(), Drain()).authorize("RepositoryModelLoad", {})  # no keys: nothing is keyed


def test_a_call_cancelled_at_its_deadline_ran_out_of_time_and_one_cancelled_early_did_not():
    # The client's copy of the deadline passes first: its cancel can arrive with a few milliseconds left here.
    assert ran_out(0.0) and ran_out(-1.0) and ran_out(0.003) and ran_out(DEADLINE_SLACK_S)
    assert not ran_out(DEADLINE_SLACK_S + 0.01) and not ran_out(5.0)
    assert not ran_out(None)  # no deadline at all: the client cancelled
