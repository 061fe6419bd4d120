"""The load generator: `hey` for a fixed time at a fixed concurrency, its report parsed; free loopback ports."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hey(url: str, body: Path, concurrency: int, seconds: float) -> dict:
    cmd = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST", "-T", "application/json",
           "-D", str(body), url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_hey(out, concurrency)


def parse_hey(out: str, concurrency: int) -> dict:
    def grab(pattern: str) -> float:
        m = re.search(pattern, out)
        return float(m.group(1)) if m else float("nan")

    codes = {k: int(v) for k, v in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    errors = sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]\s+\S", out.split("Error distribution:")[-1], re.M)) if (
        "Error distribution:" in out) else 0  # fmt: skip
    return {
        "concurrency": concurrency,
        "rps": grab(r"Requests/sec:\s+([\d.]+)"),
        "p50_ms": grab(r"50% in ([\d.]+) secs") * 1000,
        "p99_ms": grab(r"99% in ([\d.]+) secs") * 1000,
        "status": codes,
        "completed": sum(codes.values()),
        "errors": errors,
    }
