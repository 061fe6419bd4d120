"""POST /v1/generate against the real server: JSON, SSE read event by event, stops, bad input, disconnects."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from tests_support import MODELS

from core.model_folders import latest_version

pytestmark = pytest.mark.integration
MODEL = "charlstm-shakespeare"


def events(response: httpx.Response) -> list[tuple[str | None, str]]:
    """(event, data) pairs of an SSE response, parsed line by line as they arrive."""
    out, event = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            out.append((event, line[len("data: ") :]))
            event = None
    return out


def test_json_generation(server):
    body = {"model": MODEL, "prompt": "ROMEO:", "max_tokens": 120, "temperature": 0.8, "top_k": 40, "seed": 7}
    r = httpx.post(f"{server.url}/v1/generate", json=body, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    served = int(latest_version(MODELS / MODEL).name)  # the newest version that is not opt-in
    assert out["model"] == MODEL and out["version"] == served and out["seed"] == 7
    assert len(out["text"]) == 120 and out["tokens"] == 120 and out["finish_reason"] == "length"
    assert httpx.post(f"{server.url}/v1/generate", json=body, timeout=60).json()["text"] == out["text"]


def test_stream_concatenates_to_the_json_text(server):
    body = {"prompt": "JULIET:", "max_tokens": 150, "seed": 11, "top_p": 0.9, "top_k": None}
    expected = httpx.post(f"{server.url}/v1/generate", json=body, timeout=60).json()
    with httpx.stream("POST", f"{server.url}/v1/generate", json={**body, "stream": True}, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        evs = events(r)
    assert evs[-1] == (None, "[DONE]")
    final = json.loads(evs[-2][1])
    assert final["finish_reason"] == "length" and final["tokens"] == 150 and final["seed"] == 11
    pieces = [json.loads(d)["text"] for _, d in evs[:-2]]
    assert len(pieces) == 150 and all(len(p) == 1 for p in pieces)  # one event per character
    assert "".join(pieces) == expected["text"]


def test_stop_sequence(server):
    base = {"prompt": "KING RICHARD III:\n", "max_tokens": 400, "seed": 3}
    full = httpx.post(f"{server.url}/v1/generate", json=base, timeout=60).json()["text"]
    stop = full[30:33]
    cut = httpx.post(f"{server.url}/v1/generate", json={**base, "stop": [stop]}, timeout=60).json()
    assert cut["finish_reason"] == "stop" and cut["text"] == full[: full.index(stop)]
    with httpx.stream("POST", f"{server.url}/v1/generate", json={**base, "stop": [stop], "stream": True}) as r:
        evs = events(r)
    assert "".join(json.loads(d).get("text", "") for _, d in evs[:-2]) == cut["text"]
    assert json.loads(evs[-2][1])["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"prompt": "ROMEO: café ☃"}, "outside the model's vocabulary: ['é', '☃']"),
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"max_tokens": 2001}, "max_tokens: Input should be less than or equal to 2000"),
        ({"temperature": 0}, "temperature: Input should be greater than 0"),
        ({"temperature": 5.5}, "temperature: Input should be less than or equal to 5"),
        ({"top_p": 0}, "top_p: Input should be greater than 0"),
        ({"temperature": float("nan")}, "temperature: Input should be a finite number"),
        ({"top_p": 1.2}, "top_p: Input should be less than or equal to 1"),
        ({"prompt": "a" * 4001}, "prompt: String should have at most 4000 characters"),
        ({"prompt": ""}, "prompt: String should have at least 1 character"),
        ({"stop": [""]}, "stop.0: String should have at least 1 character"),
        ({"model": "nope"}, "available models"),
    ],
)
def test_bad_input(server, patch, message):
    body = json.dumps({"prompt": "ROMEO:", **patch})  # the json module writes NaN, as some clients do
    r = httpx.post(f"{server.url}/v1/generate", content=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == (404 if "model" in patch else 422), r.text
    assert message in r.json()["detail"]


def test_invalid_json_body(server):
    # Not UTF-8 was a 400, which the route does not document (found by Schemathesis): 422 as for bad syntax.
    r = httpx.post(f"{server.url}/v1/generate", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"] == "body is not valid JSON (it must be UTF-8 encoded JSON)"
    r = httpx.post(f"{server.url}/v1/generate", content=b'{"prompt": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"].startswith("body is not valid JSON")
    r = httpx.get(f"{server.url}/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def model_activity(server) -> dict[str, int]:
    return httpx.get(f"{server.url}/v1/models/{MODEL}").json()["activity"]


def test_disconnect_stops_the_generation(server):
    before = model_activity(server)["generated_tokens"]
    body = {"prompt": "ROMEO:", "max_tokens": 2000, "seed": 5, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/generate", json=body, timeout=30) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]  # three events (data line + blank line each)
    assert got[0].startswith("data: ")
    for _ in range(50):  # the server notices the closed connection and stops
        act = model_activity(server)
        if act["active_generations"] == 0:
            break
        time.sleep(0.1)
    assert act["active_generations"] == 0
    done = act["generated_tokens"] - before
    time.sleep(0.5)
    assert model_activity(server)["generated_tokens"] - before == done  # nothing continues for that client
    assert done < 2000, f"generated {done} characters for a client that left after 3"
