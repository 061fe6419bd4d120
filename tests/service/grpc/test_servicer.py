"""The servicer's methods in process (the app's lifespan under TestClient, gRPC on a loopback port), through
tritonclient.grpc and the generated stub: the repository extension (index, versioned load, unload, a failed
load), readiness of an unloaded model, the deadline cap, and the parameters the repository calls refuse."""

from __future__ import annotations

import shutil

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tg
from fastapi.testclient import TestClient
from tests_support import free_port, lenet_repository, wait_ready
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc
from tritonclient.utils import InferenceServerException

from service.app import create_app
from service.grpc.server import with_grpc
from service.settings import Settings


@pytest.fixture
def root(tmp_path):
    return lenet_repository(tmp_path / "models")


@pytest.fixture
def grpc_address(root):
    port = free_port()
    with TestClient(with_grpc(create_app(Settings(model_dir=root, grpc_port=port)))) as http:
        wait_ready(http)
        yield f"127.0.0.1:{port}"


def index(client: tg.InferenceServerClient, ready: bool = False) -> list[tuple[str, str, str]]:
    request = pb.RepositoryIndexRequest(ready=ready)
    response = client._client_stub.RepositoryIndex(request, timeout=10)  # tritonclient cannot ask for ready only
    return [(m.name, m.version, m.state) for m in response.models]


def status(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(InferenceServerException) as err:
        call(*args, **kwargs)
    return err.value.status().removeprefix("StatusCode."), err.value.message()


def test_load_unload_and_index(grpc_address, root):
    with tg.InferenceServerClient(grpc_address) as client:
        assert index(client) == [("lenet5-mnist", "1", "READY")]
        shutil.copytree(root / "lenet5-mnist" / "1", root / "lenet5-mnist" / "2")
        client.load_model("lenet5-mnist")
        assert list(client.get_model_metadata("lenet5-mnist").versions) == ["2"]
        stub = client._client_stub
        load = pb.RepositoryModelLoadRequest(model_name="lenet5-mnist")
        load.parameters["version"].int64_param = 1
        stub.RepositoryModelLoad(load, timeout=30)
        assert client.is_model_ready("lenet5-mnist", "1") and not client.is_model_ready("lenet5-mnist", "2")
        client.unload_model("lenet5-mnist")  # sends unload_dependents=false, accepted
        assert index(client) == [("lenet5-mnist", "1", "UNAVAILABLE")] and index(client, ready=True) == []
        assert not client.is_model_ready("lenet5-mnist")
        assert status(client.get_model_metadata, "lenet5-mnist") == (
            "UNAVAILABLE", "model 'lenet5-mnist' is unloaded: unloaded on request")  # fmt: skip
        client.load_model("lenet5-mnist")
        assert index(client, ready=True) == [("lenet5-mnist", "2", "READY")]
        (root / "lenet5-mnist" / "3").mkdir()
        code, message = status(client.load_model, "lenet5-mnist")
        assert code == "INVALID_ARGUMENT" and "version 3 failed: ValueError:" in message
        assert client.is_model_ready("lenet5-mnist", "2")  # a failed load changes nothing


def test_repository_calls_refuse_what_they_cannot_honour(grpc_address):
    with grpc.insecure_channel(grpc_address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)

        def refused(method: str, request) -> tuple[grpc.StatusCode, str]:
            with pytest.raises(grpc.RpcError) as err:
                getattr(stub, method)(request, timeout=10)
            return err.value.code(), err.value.details()

        bad_version = pb.RepositoryModelLoadRequest(model_name="lenet5-mnist")
        bad_version.parameters["version"].string_param = "x"
        code, message = refused("RepositoryModelLoad", bad_version)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and message.startswith("parameters.version is 'x'; send")
        override = pb.RepositoryModelLoadRequest(model_name="lenet5-mnist")
        override.parameters["file:1/model.onnx"].bytes_param = b"\0"
        code, message = refused("RepositoryModelLoad", override)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "configuration overrides are not supported" in message
        unknown = pb.RepositoryModelUnloadRequest(model_name="lenet5-mnist")
        unknown.parameters["force"].bool_param = True
        code, message = refused("RepositoryModelUnload", unknown)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert message == "unload: parameters.force is not supported; allowed: ['unload_dependents']"
        other = pb.RepositoryIndexRequest(repository_name="elsewhere")
        code, message = refused("RepositoryIndex", other)
        assert code == grpc.StatusCode.NOT_FOUND and "leave repository_name empty" in message
        invalid_name = pb.RepositoryModelLoadRequest(model_name="../etc")
        assert refused("RepositoryModelLoad", invalid_name)[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_a_long_deadline_is_served(grpc_address):
    """A deadline beyond the cap (600 s) is cut to it, not refused; the answer is the same."""
    x = tg.InferInput("image", [1, 1, 28, 28], "FP32")
    x.set_data_from_numpy(np.zeros((1, 1, 28, 28), np.float32))
    with tg.InferenceServerClient(grpc_address) as client:
        short = client.infer("lenet5-mnist", [x], client_timeout=5).as_numpy("logits")
        long = client.infer("lenet5-mnist", [x], client_timeout=10_000).as_numpy("logits")
    np.testing.assert_array_equal(short, long)
