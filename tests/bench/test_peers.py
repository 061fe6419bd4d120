"""The peers benchmark's harness without load: the round-robin order, the median round, the CPU-per-request
arithmetic, hey's report, the ratio tables, the server table, and one real peer (the plain FastAPI app, from this
interpreter) answering like dlserve's own preprocessing and onnxruntime. None of it needs `make bench-envs`."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
import re
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import onnxruntime as ort
import psutil
import pytest
from PIL import Image

from bench.peers import harness, report
from bench.peers.load import parse_hey
from bench.peers.servers import BASELINE, KINDS, SERVERS
from core.preprocessing import recipes

REPO = Path(__file__).resolve().parents[2]
Times = namedtuple("Times", "user system children_user children_system")

HEY_REPORT = """
Summary:
  Total:	5.0012 secs
  Requests/sec:	812.3456

Latency distribution:
  10% in 0.0009 secs
  50% in 0.0012 secs
  99% in 0.0051 secs

Status code distribution:
  [200]	4000 responses
  [503]	12 responses

Error distribution:
  [3]	Post "http://127.0.0.1:1/v1/classify": EOF
  [2]	Post "http://127.0.0.1:1/v1/classify": context deadline exceeded
"""


def test_each_round_starts_with_the_next_server():
    names = ["a", "b", "c"]
    assert [harness.rotation(names, r) for r in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
    assert harness.rotation([], 2) == []


def test_the_median_throughput_round_is_reported_with_every_round():
    rounds = [{"rps": 10.0, "p50_ms": 1}, {"rps": 30.0, "p50_ms": 3}, {"rps": 20.0, "p50_ms": 2}]
    row = harness.median_round(rounds)
    assert (row["rps"], row["p50_ms"]) == (20.0, 2)
    assert row["rps_rounds"] == [10.0, 30.0, 20.0]
    assert row["rounds"] == rounds
    assert harness.median_round([{"rps": 1.0}, {"rps": 4.0}, {"rps": 2.0}, {"rps": 3.0}])["rps"] == 3.0


def test_interleaved_runs_rounds_then_concurrencies_then_the_rotated_servers():
    calls = []

    def run_one(name, c):
        calls.append((name, c))
        return {"concurrency": c, "rps": float(len(calls))}

    out = harness.interleaved(["x", "y"], (1, 8), 3, run_one)
    assert calls[:8] == [("x", 1), ("y", 1), ("x", 8), ("y", 8), ("y", 1), ("x", 1), ("y", 8), ("x", 8)]
    assert len(calls) == 12
    assert [r["concurrency"] for r in out["x"]] == [1, 8]
    assert out["x"][0]["rps_rounds"] == [1.0, 6.0, 9.0] and out["x"][0]["rps"] == 6.0


def test_cpu_per_request_is_the_tree_cpu_time_over_the_completed_requests():
    assert harness.cpu_ms_per_request(10.0, 12.5, 1000) == pytest.approx(2.5)
    assert math.isnan(harness.cpu_ms_per_request(1.0, 2.0, 0))

    class Proc:
        def __init__(self, times):
            self.times = times

        def cpu_times(self):
            if self.times is None:
                raise psutil.NoSuchProcess(1)
            return self.times

    procs = [Proc(Times(1.0, 0.5, 0.25, 0.25)), Proc(Times(2.0, 1.0, 0.0, 0.0)), Proc(None)]
    assert harness.cpu_seconds(procs) == pytest.approx(5.0)


def test_hey_report_is_parsed_with_completed_requests_and_errors():
    row = parse_hey(HEY_REPORT, 64)
    assert row["rps"] == pytest.approx(812.3456)
    assert (row["p50_ms"], row["p99_ms"]) == (pytest.approx(1.2), pytest.approx(5.1))
    assert row["status"] == {"200": 4000, "503": 12}
    assert (row["completed"], row["errors"]) == (4012, 5)
    assert parse_hey(HEY_REPORT.split("Error distribution:")[0], 1)["errors"] == 0


class FakeServer:
    def __init__(self, name, cpu_steps):
        self.server = dataclasses.replace(SERVERS[0], name=name)
        self.cpu_steps, self.events = iter(cpu_steps), []

    def url(self, kind):
        return f"http://{self.server.name}/{kind}"

    def cpu(self):
        return next(self.cpu_steps)

    def pause(self):
        self.events.append("pause")

    def resume(self):
        self.events.append("resume")


def test_measure_runs_one_server_at_a_time_and_counts_its_cpu_per_request():
    running = {"a": FakeServer("a", [0.0, 1.0, 1.0, 3.0]), "b": FakeServer("b", [5.0, 5.5, 5.5, 6.0])}
    loads = []

    def load(url, body, c, seconds):
        loads.append((url, c))
        return {"concurrency": c, "rps": 100.0, "completed": 500}

    urls = harness.kind_urls(running, "typed")
    out = harness.measure(running, urls, Path("body.json"), (4,), 5, 2, load=load)
    assert loads[:2] == [("http://a/typed", 8), ("http://b/typed", 8)]  # warm-up
    assert loads[2:] == [("http://a/typed", 4), ("http://b/typed", 4), ("http://b/typed", 4), ("http://a/typed", 4)]
    assert [r["cpu_ms_per_request"] for r in out["a"][0]["rounds"]] == [pytest.approx(2.0), pytest.approx(4.0)]
    assert [r["cpu_ms_per_request"] for r in out["b"][0]["rounds"]] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert running["a"].events == ["resume", "pause"] * 3


def rows(rps, cpu=1.0):
    return [
        {"concurrency": c, "rps": x, "p50_ms": 1.0, "p99_ms": 9.0, "cpu_ms_per_request": cpu, "status": {"200": 5}}
        for c, x in zip((1, 8, 64), rps, strict=True)
    ]


def test_ratio_table_divides_by_dlserve_at_each_concurrency_and_lists_failures():
    results = {BASELINE: rows((100, 200, 400), 2.0), "peer": rows((50, 300, 100), 4.5)}
    lines = report.ratio_table(results, {"broken | peer": "install failed:\nERROR: no match"}, BASELINE, "typed")
    assert lines[0].startswith("typed: throughput as a ratio to dlserve (batching)") and lines[1] == ""
    assert lines[2].startswith("| typed: server | c=1 vs base | c=8 vs base | c=64 vs base | CPU ms/request c=1 |")
    lines = lines[2:]
    cells = [len(line.split("|")) for line in lines]
    assert len(set(cells)) == 1, lines  # every row has the header's columns
    peer = next(line for line in lines if line.startswith("| peer |"))
    assert "**0.50x** (50/s)" in peer and "**1.50x** (300/s)" in peer and "**0.25x** (100/s)" in peer
    assert " 4.50 |" in peer and "1.0 / 9.0" in peer
    assert "**1.00x** (100/s)" in lines[2]
    assert lines[-1].startswith("| broken / peer | failed: install failed: ERROR: no match |")


def test_the_ratio_is_the_median_of_each_rounds_ratio_with_its_range():
    # Round 2 ran on a machine twice as slow for both servers: its ratio still reads 1.5x, while the ratio of the
    # median rounds (300/200) would read the drift as well.
    base = {"rps": 200.0, "rps_rounds": [200.0, 100.0, 210.0]}
    peer = {"rps": 300.0, "rps_rounds": [300.0, 150.0, 420.0]}
    assert report.round_ratios(peer, base) == [1.5, 1.5, 2.0]
    assert report._ratio(peer, base) == "**1.50x** (1.50-2.00, 300/s)"
    assert report._ratio({"rps": 50.0}, {"rps": 100.0}) == "**0.50x** (50/s)"  # a single round: no range
    assert report._ratio({"rps": 50.0, "rps_rounds": [50.0]}, {"rps": 0.0, "rps_rounds": [0.0]}).startswith("n/a")


def test_ratio_table_without_dlserve_says_n_a():
    lines = report.ratio_table({"peer": rows((50, 60, 70))}, {}, BASELINE, "v2")
    assert "n/a (50/s)" in lines[4]


def test_answers_are_read_from_each_kind_of_body():
    typed = {"results": [{"predictions": [{"label": "7"}, {"label": "1"}]}]}
    assert harness.top_label("typed", typed) == "7"
    assert harness.top_label("typed", typed["results"]) == "7"  # BentoML answers the list itself
    v2 = {"outputs": [{"name": "other", "data": [9.0]}, {"name": "logits", "data": [0.1, 3.0, -1.0]}]}
    assert harness.top_label("v2", v2) == "1"


def test_a_missing_or_failed_venv_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "VENVS", tmp_path)
    monkeypatch.setattr(harness, "REPO", tmp_path.parent)
    peer = next(s for s in SERVERS if s.venv)
    assert "not installed" in harness.install_error(peer) and "make bench-envs" in harness.install_error(peer)
    (tmp_path / peer.venv).mkdir()
    (tmp_path / peer.venv / "install-error.txt").write_text("WARNING: x\nERROR: Cannot install y\nERROR: z\n")
    assert harness.install_error(peer) == "install failed: ERROR: Cannot install y ERROR: z"
    with pytest.raises(harness.PeerError, match="Cannot install y"):
        harness.Running(peer, tmp_path / "log")
    (tmp_path / peer.venv / "installed.txt").write_text("numpy==2.4.6\nSomething==1\n")
    assert harness.install_error(peer) is None
    assert harness.versions(peer) == {"numpy": "2.4.6"}
    assert harness.install_error(SERVERS[0]) is None  # dlserve runs in this interpreter


def test_the_server_table_is_consistent():
    names = [s.name for s in SERVERS]
    assert len(set(names)) == len(names) and names[0] == BASELINE
    for s in SERVERS:
        assert set(s.endpoints) <= set(KINDS) and s.endpoints and s.ready.startswith("/")
        if s.venv is None:
            continue
        pins = (REPO / "bench" / "peers" / s.venv / "requirements.txt").read_text().splitlines()
        reqs = [line.split("#")[0].strip() for line in pins if line.split("#")[0].strip()]
        assert reqs and all(re.fullmatch(r"[A-Za-z0-9_.\[\]-]+==[\w.]+", r) for r in reqs), (s.venv, reqs)
        module = next((p for p in s.command if p.startswith("bench.")), None)
        if module and ":" not in module:
            assert (REPO / (module.replace(".", "/") + ".py")).exists(), module
    assert {k for s in SERVERS for k in s.endpoints} == set(KINDS)


def dlserve_top_label(png: bytes) -> str:
    model = REPO / "models" / "lenet5-mnist" / "1"
    manifest = json.loads((model / "manifest.json").read_text())
    row = recipes.apply(recipes.parse(manifest["preprocessing"]), Image.open(io.BytesIO(png)), "digit.png")
    session = ort.InferenceSession(str(model / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"image": row[None].astype(np.float32)})
    return manifest["labels"][int(logits.argmax())]


@pytest.mark.integration
def test_the_plain_fastapi_peer_answers_as_dlserve_would(tmp_path, mnist_test):
    images, labels = mnist_test
    buf = io.BytesIO()
    Image.fromarray(images[0]).save(buf, format="PNG")
    expected = dlserve_top_label(buf.getvalue())
    assert expected == str(labels[0]) == harness.EXPECTED_LABEL
    body = tmp_path / "digit.json"
    body.write_text(json.dumps({"images": [base64.b64encode(buf.getvalue()).decode()]}))
    plain = next(s for s in SERVERS if s.venv == "plain_fastapi")
    running = harness.Running(dataclasses.replace(plain, venv=None), tmp_path / "server.log", startup_s=60)
    try:
        harness.check_answers(running, {"typed": body}, times=1)
        running.pause()
        deadline = time.monotonic() + 5  # SIGSTOP is delivered asynchronously: the status follows soon after
        while {p.status() for p in harness.tree(running.proc.pid)} != {psutil.STATUS_STOPPED}:
            assert time.monotonic() < deadline, "the server's processes did not stop"
            time.sleep(0.01)
        running.resume()
        harness.answer(running, "typed", body)
        assert running.cpu() > 0
    finally:
        running.stop()
    assert running.proc.poll() is not None
