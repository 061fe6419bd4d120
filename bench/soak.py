"""A bounded soak: mixed traffic over the four tasks against a real server, then a phase that provokes 429s.

    python -m bench.soak [--minutes 10] [--users 48] [--out bench/soak.json]

Starts dlserve on 127.0.0.1 with the committed models and drives it with locust, headless
(bench/locustfile.py: classify, translate en-fr and en-de, generate 50 tokens, caption a Flickr8k photo; no
think time). Phase `main` (85% of the time) runs with the default settings; its first fifth is the warm-up.
Phase `overload` (the rest) runs against a fresh server with DLSERVE_MAX_QUEUE=2, so admission control must
answer 429. Reports requests by task, status counts, p50/p99 latency per task, and the server's resident
memory (VmRSS) at start, after the warm-up and at the end. Writes the JSON to --out and exits 1 when a check
fails: a status other than 200 (and 429 in the overload phase), no 429 in the overload phase, or memory
growing more than 10% after the warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from bench.run import DATA, REPO, free_port

MAX_RSS_GROWTH = 0.10
OVERLOAD_QUEUE = 2


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_server(log: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # No gRPC: the soak drives HTTP, and the default gRPC port may be taken by another server.
    full_env = {**os.environ, "DLSERVE_MODEL_DIR": str(REPO / "models"), "DLSERVE_PORT": str(port),
                "DLSERVE_GRPC_PORT": "0", **env}  # fmt: skip
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(cmd, env=full_env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server not ready after 120 s; see {log}")


def run_locust(url: str, seconds: float, users: int, records: Path, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "locustfile.py"), "--headless",
           "-u", str(users), "-r", str(users), "--run-time", f"{max(int(seconds), 1)}s", "--host", url,
           "--stop-timeout", "30", "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
    env = {**os.environ, "DLSERVE_DATA": str(DATA), "SOAK_RECORDS": str(records)}
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO)


def summarize(records: list[tuple[str, int, float]]) -> dict:
    by_task: dict[str, list[float]] = {}
    for task, status, ms in records:
        if status == 200:
            by_task.setdefault(task, []).append(ms)
    return {
        "requests": len(records),
        "requests_by_task": dict(sorted(Counter(t for t, _, _ in records).items())),
        "status_counts": {str(s): n for s, n in sorted(Counter(s for _, s, _ in records).items())},
        "latency_ms": {
            task: {
                "n": len(v),
                "p50": round(float(np.percentile(v, 50)), 1),
                "p99": round(float(np.percentile(v, 99)), 1),
            }
            for task, v in sorted(by_task.items())
        },
    }


def phase(name: str, seconds: float, users: int, env: dict[str, str], work: Path, warmup_s: float = 0.0) -> dict:
    proc, url = start_server(work / f"{name}-server.log", env)
    try:
        rss = {"start": rss_mb(proc.pid)}
        records = work / f"{name}-records.json"
        started = time.monotonic()
        locust = run_locust(url, seconds, users, records, work / f"{name}-locust.log")
        peak, stop = [rss["start"]], threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                peak.append(rss_mb(proc.pid))
                if warmup_s and "after_warmup" not in rss and time.monotonic() - started >= warmup_s:
                    rss["after_warmup"] = peak[-1]

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        locust.wait(timeout=seconds + 120)
        stop.set()
        sampler.join()
        rss["end"], rss["peak"] = rss_mb(proc.pid), max(peak)
        if "after_warmup" in rss:
            rss["growth_after_warmup_pct"] = round(100 * (rss["end"] / rss["after_warmup"] - 1), 2)
        result = {
            "seconds": round(time.monotonic() - started, 1),
            "users": users,
            "settings": env,
            **summarize(json.loads(records.read_text())),
            "rss_mb": {k: round(v, 2) for k, v in rss.items()},
        }
        server_errors = sum(1 for line in (work / f"{name}-server.log").open() if '"level": "error"' in line)
        result["server_error_log_lines"] = server_errors
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def problems(result: dict) -> list[str]:
    found = []
    main, over = result["phases"]["main"], result["phases"]["overload"]
    if set(main["status_counts"]) != {"200"}:
        found.append(f"main phase: statuses other than 200: {main['status_counts']}")
    if not set(over["status_counts"]) <= {"200", "429"}:
        found.append(f"overload phase: statuses other than 200 and 429: {over['status_counts']}")
    if "429" not in over["status_counts"]:
        found.append(f"overload phase: no 429 with DLSERVE_MAX_QUEUE={OVERLOAD_QUEUE}")
    growth = main["rss_mb"].get("growth_after_warmup_pct")
    if growth is None or growth > 100 * MAX_RSS_GROWTH:
        found.append(f"main phase: resident memory grew {growth}% after the warm-up (limit {100 * MAX_RSS_GROWTH:g}%)")
    if main["server_error_log_lines"] or over["server_error_log_lines"]:
        found.append("the server logged errors")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="traffic time, both phases together")
    parser.add_argument("--users", type=int, default=48, help="concurrent locust users (no think time)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "soak.json")
    parser.add_argument("--work-dir", type=Path, help="logs and records (default: a temporary folder)")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="dlserve-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    total = args.minutes * 60
    main_s, over_s = 0.85 * total, 0.15 * total
    started = time.monotonic()
    result = {
        "minutes": args.minutes,
        "phases": {
            "main": phase("main", main_s, args.users, {}, work, warmup_s=main_s / 5),
            "overload": phase("overload", over_s, args.users, {"DLSERVE_MAX_QUEUE": str(OVERLOAD_QUEUE)}, work),
        },
    }
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["problems"] = problems(result)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"logs in {work}", file=sys.stderr)
    sys.exit(1 if result["problems"] else 0)


if __name__ == "__main__":
    main()
