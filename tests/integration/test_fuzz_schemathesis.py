"""Schemathesis fuzzes every operation of the real server's OpenAPI schema: no 5xx, and every response
conforms to the schema (status code, content type, body).

Examples per operation: DLSERVE_FUZZ_EXAMPLES (default 15) in the fuzzing phase, after Schemathesis' coverage
phase (boundary values, wrong types, unsupported methods); the run is derandomized, so CI is reproducible.
`-s` prints the requests and statuses per operation.

What OpenAPI cannot describe is checked as far as it is described: a `"stream": true` generation answers
`text/event-stream`, documented without a schema, so only its status and content type are checked (the SSE
framing is tested in test_generate_http.py); the v2 binary tensor extension is documented as
`application/octet-stream`, so Schemathesis sends random bytes there (a 400), and the JSON form is fuzzed in full
(test_v2_tritonclient.py drives the binary form with NVIDIA's client).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests_support import MODELS, Server, start_server, stop_server

from service.app import create_app
from service.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = int(os.environ.get("DLSERVE_FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


CALLS: Counter[tuple[str, int]] = Counter()  # (operation, status) -> responses, for the summary


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Its own server: the fuzzer calls load and unload, which must not disturb the session's shared server.
    srv = start_server(MODELS, tmp_path_factory.mktemp("fuzz") / "server.log")
    started = time.perf_counter()
    yield srv
    elapsed = time.perf_counter() - started
    stop_server(srv)
    operations = sorted({op for op, _ in CALLS})
    print(f"\nSchemathesis: {len(operations)} operations, {CALLS.total()} requests in {elapsed:.1f} s")
    for op in operations:
        statuses = {status: n for (o, status), n in sorted(CALLS.items()) if o == op}
        print(f"  {op:45} {sum(statuses.values()):5}  {statuses}")


# The schema is built at collection time from create_app (no models load: that happens in the lifespan), so
# each operation is its own test item; test_live_schema_is_the_fuzzed_one checks the live server serves the same.
# (schemathesis.pytest.from_fixture would load it from the live server, but it sets Node._nodeid, which pytest
# 9.2 no longer has.)
OPENAPI = create_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)

# Random model names only ever reach the 404 path: half the time, use a name the repository serves instead.
MANIFESTS = {p.parent.parent.name: json.loads(p.read_text()) for p in sorted(MODELS.glob("*/1/manifest.json"))}
GRAPHS = {
    name if len(m["graphs"]) == 1 else f"{name}.{graph}": spec
    for name, m in MANIFESTS.items()
    for graph, spec in m["graphs"].items()
}  # v2 model name -> its graph's inputs and outputs
NAMES = sorted({*MANIFESTS, *GRAPHS})
PAIRS = [(m["languages"]["source"], m["languages"]["target"]) for m in MANIFESTS.values() if m.get("languages")]
V2_TYPES = {"int64": "INT64", "float32": "FP32", "int32": "INT32", "bool": "BOOL"}


@st.composite
def tensors_for(draw: st.DrawFn, name: str) -> dict:
    """An inference request for graph `name` with the right input names, mostly the right datatypes, small
    shapes (fixed sizes mostly kept) and matching data: what gets past the checks into onnxruntime."""
    inputs = []
    for spec in GRAPHS[name]["inputs"]:
        shape = [d if d >= 0 and draw(st.integers(0, 9)) else draw(st.integers(0, 3)) for d in spec["shape"]]
        datatype = draw(st.sampled_from([V2_TYPES[spec["dtype"]]] * 4 + sorted(set(V2_TYPES.values()))))
        count = math.prod(shape)
        if datatype == "FP32":
            values = st.floats(-1e6, 1e6, allow_nan=False, width=32)
        elif datatype == "BOOL":
            values = st.booleans()
        else:
            values = st.integers(-(2**31), 2**31 - 1) | st.integers(-2, 100)
        # A 3x112x112 photo has more elements than Hypothesis will draw: then one value, repeated.
        data = draw(st.lists(values, min_size=count, max_size=count)) if count <= 256 else [draw(values)] * count
        inputs.append({"name": spec["name"], "shape": shape, "datatype": datatype, "data": data})
    return {"inputs": inputs}


@schema.hook
def flatmap_case(context, case):
    cases = st.just(case)
    params = case.path_parameters
    if isinstance(params, dict) and isinstance(params.get("name"), str):
        names = sorted(GRAPHS) if case.path.endswith("/infer") else NAMES
        real = {"name": st.sampled_from(names), **({"version": st.just("1")} if "version" in params else {})}
        cases = st.one_of(cases, st.fixed_dictionaries(real).map(lambda p: with_path(case, p)))
    return cases.flatmap(reachable_body)


def with_path(case, values: dict[str, str]):
    case.path_parameters = {**case.path_parameters, **values}
    return case


def reachable_body(case):
    """Half the time, a body that gets past the first checks: a served language pair, real tensor names."""
    if case.path == "/v1/translate" and isinstance(case.body, dict):
        pair = st.sampled_from(PAIRS).map(lambda p: {**case.body, "source": p[0], "target": p[1]})
        return st.one_of(st.just(case), pair.map(lambda body: replace_body(case, body)))
    name = (case.path_parameters or {}).get("name")
    if case.path.endswith("/infer") and name in GRAPHS:
        return st.one_of(st.just(case), tensors_for(name).map(lambda body: replace_body(case, body)))
    return st.just(case)


def replace_body(case, body: dict):
    case.body = body
    case.media_type = "application/json"
    return case


def test_live_schema_is_the_fuzzed_one(fuzz_server: Server) -> None:
    assert httpx.get(f"{fuzz_server.url}/openapi.json").json() == OPENAPI


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation(case, fuzz_server: Server) -> None:
    response = case.call(base_url=fuzz_server.url, timeout=60)
    CALLS[(case.operation.label, response.status_code)] += 1
    case.validate_response(response, checks=CHECKS)
