"""The soak tool's one-minute version: mixed traffic over the four tasks from locust, then a phase with a tiny
queue. No 5xx, no error but the intended 429s, and resident memory bounded after the warm-up."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from tests_support import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_one_minute_soak(tmp_path):
    out = tmp_path / "soak.json"
    started = time.monotonic()
    cmd = [sys.executable, "-m", "bench.soak", "--minutes", "1", "--out", str(out), "--work-dir", str(tmp_path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert out.is_file(), done.stderr[-3000:]
    result = json.loads(out.read_text())
    main, overload = result["phases"]["main"], result["phases"]["overload"]
    assert main["status_counts"] == {"200": main["requests"]}
    assert set(main["requests_by_task"]) == {"classify", "translate-fr", "translate-de", "generate", "caption"}
    assert set(overload["status_counts"]) == {"200", "429"}  # admission control refused, nothing failed
    assert main["rss_mb"]["after_warmup"] > 0 and main["rss_mb"]["growth_after_warmup_pct"] <= 10
    assert main["server_error_log_lines"] == overload["server_error_log_lines"] == 0
    assert result["problems"] == [] and done.returncode == 0, done.stdout[-3000:]
    print(f"soak: {main['requests']} + {overload['requests']} requests in {time.monotonic() - started:.1f} s; "
          f"RSS {main['rss_mb']}")  # fmt: skip
