"""The gRPC server's life in the app's lifespan, in process: served beside HTTP on the app's event loop while the
app runs (TestClient runs the lifespan), gone after; off with port 0; a port already taken fails the start
with a message naming the setting; readiness shared with HTTP. (That calls in flight hold the drain is shown on
a real server: tests/integration/test_grpc_policy_tritonclient.py.)"""

from __future__ import annotations

import socket

import grpc
import pytest
import tritonclient.grpc as tg
from fastapi.testclient import TestClient
from tests_support import free_port, lenet_repository, wait_ready
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc
from tritonclient.utils import InferenceServerException

from service.app import create_app
from service.grpc.server import address, with_grpc
from service.settings import Settings


@pytest.fixture
def root(tmp_path):
    return lenet_repository(tmp_path / "models")


def test_served_for_the_apps_lifetime(root):
    port = free_port()
    app = with_grpc(create_app(Settings(model_dir=root, grpc_port=port)))
    with TestClient(app) as http, tg.InferenceServerClient(f"127.0.0.1:{port}") as client:
        wait_ready(http)
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("lenet5-mnist")
        assert client.get_server_metadata().version == app.version
        app.state.drain.begin()  # what SIGTERM does (service/server.py)
        assert not client.is_server_ready() and http.get("/v2/health/ready").json() == {"ready": False}
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.ServerLive(pb.ServerLiveRequest(), timeout=2)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # stopped with the app


def test_port_zero_turns_it_off(root):
    app = create_app(Settings(model_dir=root, grpc_port=0))
    lifespan = app.router.lifespan_context
    assert with_grpc(app) is app and app.router.lifespan_context is lifespan


def test_a_port_in_use_fails_the_start(root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = with_grpc(create_app(Settings(model_dir=root, grpc_port=port)))
        message = rf"gRPC could not listen on 127.0.0.1:{port} \(DLSERVE_GRPC_PORT"
        with pytest.raises(RuntimeError, match=message), TestClient(app):
            pass


def test_address_brackets_ipv6():
    assert address("0.0.0.0", 8001) == "0.0.0.0:8001" and address("::", 8001) == "[::]:8001"


def test_an_unimplemented_method_says_so(root):
    port = free_port()
    with TestClient(with_grpc(create_app(Settings(model_dir=root, grpc_port=port)))) as http:
        wait_ready(http)
        with tg.InferenceServerClient(f"127.0.0.1:{port}") as client, pytest.raises(InferenceServerException) as err:
            client.get_model_config("lenet5-mnist")
    assert err.value.status() == str(grpc.StatusCode.UNIMPLEMENTED)
