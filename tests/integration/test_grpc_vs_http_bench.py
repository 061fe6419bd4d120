"""The gRPC-vs-HTTP benchmark's short version, as a program (`python -m bench.grpc_vs_http`): it starts its own
server, checks both protocols answer alike, measures every point, and writes its results file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests_support import REPO

pytestmark = pytest.mark.integration


def test_the_benchmark_runs_and_writes_its_results(tmp_path):
    out = tmp_path / "grpc_vs_http.json"
    cmd = [sys.executable, "-m", "bench.grpc_vs_http", "--seconds", "0.3", "--rounds", "2", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and out.is_file(), done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert (results["seconds"], results["rounds"]) == (0.3, 2) and set(results["points"]) == {"1 image", "64 images"}
    for rows in results["points"].values():
        assert [row["concurrency"] for row in rows] == [1, 16]
        for row in rows:
            for protocol in ("gRPC", "HTTP"):
                assert row[protocol]["errors"] == 0 and row[protocol]["rps"] > 0
                assert len(row[protocol]["rps_rounds"]) == 2
            assert row["grpc_over_http"] == round(row["gRPC"]["rps"] / row["HTTP"]["rps"], 3)
    assert "| 64 images | 16 |" in done.stdout
