"""The Open Inference Protocol over gRPC, driven by NVIDIA's own client (tritonclient.grpc) against the real
server: health, metadata, every v2 model answering exactly what REST answers, typed `contents` as well as
`raw_input_contents`, each bad request's status code and message, metrics. Keys, overload, deadlines and the
drain have servers of their own: tests/integration/test_grpc_policy_tritonclient.py."""

from __future__ import annotations

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as tg
import tritonclient.http as th
from tests_support import grpc_calls, served_version
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(server):
    c = tg.InferenceServerClient(server.grpc)
    yield c
    c.close()


@pytest.fixture(scope="module")
def rest(server):
    c = th.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60)
    yield c
    c.close()


@pytest.fixture(scope="module")
def stub(server):
    """The generated stub itself, for what tritonclient cannot send (typed contents, malformed requests)."""
    with grpc.insecure_channel(server.grpc) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def v2_models(server) -> list[str]:
    models = httpx.get(f"{server.url}/v1/models").json()["models"]
    names = [m["name"] if len(m["graphs"]) == 1 else f"{m['name']}.{g}" for m in models for g in m["graphs"]]
    # Every family among them (the committed repository grows): one-graph models and each graph of the others.
    families = {"lenet5-mnist", "alexnet-cifar10", "charlstm-shakespeare.step", "gru-en-fr.encoder",
                "captioner-flickr8k.decoder_step"}  # fmt: skip
    assert families <= set(names)
    return sorted(names)


def example_inputs(meta: dict, seed: int) -> dict[str, np.ndarray]:
    """Valid tensors for a graph's metadata: every dynamic size 2 (so batch and lengths agree), integers 1..2
    (token ids and lengths alike), small normal floats."""
    rng = np.random.default_rng(seed)
    out = {}
    for spec in meta["inputs"]:
        shape = [2 if d == -1 else d for d in spec["shape"]]
        if spec["datatype"] == "INT64":
            out[spec["name"]] = rng.integers(1, 3, shape).astype(np.int64)
        else:
            out[spec["name"]] = (rng.standard_normal(shape) * 0.1).astype(np.float32)
    return out


def test_health_metadata_and_index_match_rest(client, rest, server):
    assert client.is_server_live() and client.is_server_ready()
    meta = client.get_server_metadata()
    assert (meta.name, list(meta.extensions)) == ("dlserve", ["binary_tensor_data", "model_repository"])
    for name in v2_models(server):
        want = rest.get_model_metadata(name)
        assert client.is_model_ready(name) and client.is_model_ready(name, model_version=want["versions"][0])
        got = client.get_model_metadata(name)
        assert (got.name, list(got.versions), got.platform) == (want["name"], want["versions"], want["platform"])
        for side in ("inputs", "outputs"):
            assert [(t.name, t.datatype, list(t.shape)) for t in getattr(got, side)] == [
                (t["name"], t["datatype"], t["shape"]) for t in want[side]
            ]
    index = [(m.name, m.version, m.state, m.reason) for m in client.get_model_repository_index().models]
    assert index == [(m["name"], m["version"], m["state"], m["reason"]) for m in rest.get_model_repository_index()]
    assert not client.is_model_ready("lenet5-mnist", model_version="7") and not client.is_model_ready("resnet50")


def test_every_v2_model_answers_what_rest_answers(client, rest, server):
    for seed, name in enumerate(v2_models(server)):
        meta = rest.get_model_metadata(name)
        tensors = example_inputs(meta, seed)
        g_in, h_in = [], []
        for spec in meta["inputs"]:
            x = tensors[spec["name"]]
            g_in.append(tg.InferInput(spec["name"], list(x.shape), spec["datatype"]))
            g_in[-1].set_data_from_numpy(x)
            h_in.append(th.InferInput(spec["name"], list(x.shape), spec["datatype"]))
            h_in[-1].set_data_from_numpy(x, binary_data=True)
        got = client.infer(name, g_in, request_id=f"g-{seed}")
        want = rest.infer(name, h_in)
        assert got.get_response().id == f"g-{seed}" and got.get_response().model_version == meta["versions"][0]
        for spec in meta["outputs"]:
            g, h = got.as_numpy(spec["name"]), want.as_numpy(spec["name"])
            assert g.dtype == h.dtype and g.shape == h.shape, (name, spec["name"])
            np.testing.assert_array_equal(g, h, err_msg=f"{name}.{spec['name']}")


def test_requested_outputs_only(client):
    tokens, lengths = tg.InferInput("tokens", [2, 4], "INT64"), tg.InferInput("lengths", [2], "INT64")
    tokens.set_data_from_numpy(np.array([[5, 17, 42, 3], [8, 9, 3, 0]], np.int64))
    lengths.set_data_from_numpy(np.array([4, 3], np.int64))
    result = client.infer("gru-en-fr.encoder", [tokens, lengths], outputs=[tg.InferRequestedOutput("mask")])
    np.testing.assert_array_equal(result.as_numpy("mask"), [[1, 1, 1, 1], [1, 1, 1, 0]])
    assert [o.name for o in result.get_response().outputs] == ["mask"] and result.as_numpy("memory") is None


def test_typed_contents_equal_raw_contents(stub, client):
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    typed = pb.ModelInferRequest(model_name="lenet5-mnist", id="typed")
    typed.inputs.add(name="image", datatype="FP32", shape=[3, 1, 28, 28]).contents.fp32_contents.extend(x.ravel())
    response = stub.ModelInfer(typed, timeout=30)
    assert response.id == "typed" and [tuple(o.shape) for o in response.outputs] == [(3, 10)]
    logits = np.frombuffer(response.raw_output_contents[0], np.float32).reshape(3, 10)
    raw = tg.InferInput("image", [3, 1, 28, 28], "FP32")
    raw.set_data_from_numpy(x)
    np.testing.assert_array_equal(logits, client.infer("lenet5-mnist", [raw]).as_numpy("logits"))
    step = pb.ModelInferRequest(model_name="charlstm-shakespeare.step")
    step.inputs.add(name="tokens", datatype="INT64", shape=[1]).contents.int64_contents.append(7)
    for state in ("h", "c"):
        step.inputs.add(name=state, datatype="FP32", shape=[2, 1, 512]).contents.fp32_contents.extend([0.0] * 1024)
    assert [o.name for o in stub.ModelInfer(step, timeout=30).outputs] == ["logits", "h_out", "c_out"]


def expect(code: grpc.StatusCode, message: str, call, *args, **kwargs) -> None:
    with pytest.raises(InferenceServerException) as err:
        call(*args, **kwargs)
    assert err.value.status() == str(code) and message in err.value.message(), err.value


def lenet_input(shape: list[int], datatype: str = "FP32") -> tg.InferInput:
    x = tg.InferInput("image", shape, datatype)
    x.set_data_from_numpy(np.zeros(shape, {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32}[datatype]))
    return x


def test_bad_requests_get_their_status_and_the_rest_message(client):
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    expect(invalid, "input 'image' has shape [1, 28, 28]; model 'lenet5-mnist' takes [-1, 1, 28, 28]",
           client.infer, "lenet5-mnist", [lenet_input([1, 28, 28])])  # fmt: skip
    expect(invalid, "input 'image' is FP64; model 'lenet5-mnist' takes FP32",
           client.infer, "lenet5-mnist", [lenet_input([1, 1, 28, 28], "FP64")])  # fmt: skip
    tokens = tg.InferInput("tokens", [1], "INT64")
    tokens.set_data_from_numpy(np.array([10**6], np.int64))
    states = [tg.InferInput(n, [2, 1, 512], "FP32") for n in ("h", "c")]
    for s in states:
        s.set_data_from_numpy(np.zeros((2, 1, 512), np.float32))
    expect(invalid, "model 'charlstm-shakespeare.step' could not run on these inputs",
           client.infer, "charlstm-shakespeare.step", [tokens, *states])  # fmt: skip
    expect(invalid, "the classification extension is not supported", client.infer, "lenet5-mnist",
           [lenet_input([1, 1, 28, 28])], outputs=[tg.InferRequestedOutput("logits", class_count=3)])  # fmt: skip
    expect(invalid, "model 'lenet5-mnist' has no output 'probs'", client.infer, "lenet5-mnist",
           [lenet_input([1, 1, 28, 28])], outputs=[tg.InferRequestedOutput("probs")])  # fmt: skip
    expect(not_found, "model 'resnet50' not found", client.get_model_metadata, "resnet50")
    serves = f"it serves version {served_version('lenet5-mnist')}"
    expect(not_found, serves, client.get_model_metadata, "lenet5-mnist", model_version="7")
    expect(not_found, "has several graphs, each a v2 model", client.infer, "gru-en-fr", [lenet_input([1])])
    expect(not_found, "model 'nope' not found", client.load_model, "nope")
    expect(invalid, "configuration overrides are not supported", client.load_model, "lenet5-mnist", config="{}")
    expect(grpc.StatusCode.UNIMPLEMENTED, "", client.get_model_config, "lenet5-mnist")
    assert client.is_server_live() and client.is_server_ready()


def infer_request(inputs: list[dict], raw: tuple[bytes, ...] = ()) -> pb.ModelInferRequest:
    """A ModelInferRequest for lenet5-mnist: each input a dict of its fields, `contents` and `parameters`
    given as {field: values} and {name: string}."""
    request = pb.ModelInferRequest(model_name="lenet5-mnist", raw_input_contents=list(raw))
    for spec in inputs:
        spec = dict(spec)
        contents, params = spec.pop("contents", {}), spec.pop("parameters", {})
        tensor = request.inputs.add(**spec)
        for field, values in contents.items():
            getattr(tensor.contents, field).extend(values)
        for key, value in params.items():
            tensor.parameters[key].string_param = value
    return request


IMAGE = {"name": "image", "datatype": "FP32", "shape": [1, 1, 28, 28]}
ONE = {"name": "image", "shape": [1]}
# Requests no client library would build: what the message must say, the inputs, raw_input_contents.
MALFORMED = [
    ("invalid inference request: inputs: List should have at least 1 item", [], ()),
    ("inputs.0.shape.0: Input should be greater than or equal to 0", [{**IMAGE, "shape": [-1, 1, 28, 28]}], ()),
    ("datatype 'BF16' is not supported", [{**ONE, "datatype": "BF16"}], (b"\0\0",)),
    ("input 'image' has no data", [IMAGE], ()),
    ("raw_input_contents holds 2 tensors for 1 inputs", [IMAGE], (b"", b"")),
    ("takes 3136 bytes but the length of raw_input_contents[0] is 5", [IMAGE], (b"12345",)),
    ("shape [1099511627776, 1, 28, 28] of FP32 takes", [{**IMAGE, "shape": [2**40, 1, 28, 28]}], (b"1234",)),
    ("holds 784 values but contents.fp32_contents has 3", [{**IMAGE, "contents": {"fp32_contents": [1, 2, 3]}}], ()),
    ("whose values go in contents.fp32_contents, not int64_contents",
     [{**ONE, "datatype": "FP32", "contents": {"int64_contents": [1]}}], ()),
    ("a value is outside the INT8 range [-128, 127]",
     [{**ONE, "datatype": "INT8", "contents": {"int_contents": [300]}}], ()),
    ("FP16 has no typed contents field; send it in raw_input_contents",
     [{**ONE, "datatype": "FP16", "contents": {"fp32_contents": [1]}}], ()),
    ("input 'image' is given twice", [IMAGE, IMAGE], (b"\0" * 3136,) * 2),
    ("a BYTES element of 1000 bytes runs past the data", [{**ONE, "datatype": "BYTES"}], (b"\xe8\x03\0\0ab",)),
    ("shared memory is not supported", [{**IMAGE, "parameters": {"shared_memory_region": "r"}}], ()),
]  # fmt: skip


@pytest.mark.parametrize(("message", "inputs", "raw"), MALFORMED, ids=[m[0][:40] for m in MALFORMED])
def test_malformed_requests_are_invalid_arguments_not_crashes(stub, message, inputs, raw):
    with pytest.raises(grpc.RpcError) as err:
        stub.ModelInfer(infer_request(inputs, raw), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in err.value.details()
    assert stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live


def test_calls_are_counted_with_their_status_and_request_id(client, server, stub):
    before = grpc_calls(server)
    client.infer("lenet5-mnist", [lenet_input([1, 1, 28, 28])], headers={"x-request-id": "grpc-call-1"})
    with pytest.raises(InferenceServerException):
        client.infer("lenet5-mnist", [lenet_input([1, 28, 28])])
    after = grpc_calls(server)
    assert after[("lenet5-mnist", "OK")] - before.get(("lenet5-mnist", "OK"), 0) == 1
    bad = ("lenet5-mnist", "INVALID_ARGUMENT")
    assert after[bad] - before.get(bad, 0) == 1
    live = pb.ServerLiveRequest()
    _, call = stub.ServerLive.with_call(live, metadata=(("x-request-id", "probe-7"),), timeout=10)
    assert ("x-request-id", "probe-7") in call.trailing_metadata()
    assert '"request_id": "grpc-call-1"' in server.log.read_text()
