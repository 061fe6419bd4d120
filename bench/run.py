"""Benchmark dlserve side by side with peers in one run, with `hey` as the load generator.

    python -m bench.run [--seconds 5] [--rounds 3] [--out bench/results]

Servers started here on 127.0.0.1: dlserve (batching on), dlserve (batching off), a constant FastAPI
endpoint (the HTTP stack's ceiling) and LitServe (batching on) serving the same ONNX model. Every server
gets the same request bodies. Every point is measured `--rounds` times, round-robin over the servers
(each round starting with the next one), so a change in the machine's load hits them alike; each point
reports the round with the median throughput (all rounds' throughputs are kept in the JSON). Writes
<out>.json and <out>.png and prints Markdown tables; read the ratios, since the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("DLSERVE_DATA", REPO.parent / "shared" / "data"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], ready_path: str, port: int, cwd: Path = REPO) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


def dlserve(port: int, batching: bool, workers: int = 1, device_state: str = "auto") -> subprocess.Popen:
    # No gRPC: the servers run at once and would all take its default port.
    env = {"DLSERVE_PORT": str(port), "DLSERVE_BATCHING": str(batching).lower(), "DLSERVE_LOG_LEVEL": "warning",
           "DLSERVE_WORKERS": str(workers), "DLSERVE_DEVICE_STATE": device_state, "DLSERVE_GRPC_PORT": "0"}  # fmt: skip
    return start([sys.executable, "-m", "service.cli", "serve"], env, "/readyz", port)


def hey(url: str, body: Path, concurrency: int, seconds: float) -> dict:
    cmd = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST", "-T", "application/json",
           "-D", str(body), url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def grab(pattern: str) -> float:
        m = re.search(pattern, out)
        return float(m.group(1)) if m else float("nan")

    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    return {
        "concurrency": concurrency,
        "rps": grab(r"Requests/sec:\s+([\d.]+)"),
        "p50_ms": grab(r"50% in ([\d.]+) secs") * 1000,
        "p99_ms": grab(r"99% in ([\d.]+) secs") * 1000,
        "status": {k: int(v) for k, v in codes.items()},
    }


def measure(urls: dict[str, str], body: Path, concurrencies: tuple[int, ...], seconds: float, rounds: int) -> dict:
    """name -> one row per concurrency: the median-throughput round of `rounds`, interleaved across servers."""
    runs: dict[str, dict[int, list[dict]]] = {name: {c: [] for c in concurrencies} for name in urls}
    names = list(urls)
    for r in range(rounds):
        # Each round starts with the next server: on this machine the server measured first in a pair ran about
        # 4% faster than the same code measured second, so no server may always hold one place in the order.
        order = names[r % len(names) :] + names[: r % len(names)]
        for c in concurrencies:
            for name in order:
                runs[name][c].append(hey(urls[name], body, c, seconds))
    out = {}
    for name, per_c in runs.items():
        rows = []
        for rs in per_c.values():
            median = dict(sorted(rs, key=lambda r: r["rps"])[len(rs) // 2])
            median["rps_rounds"] = [r["rps"] for r in rs]
            rows.append(median)
        out[name] = rows
    return out


def digit_body(tmp: Path) -> Path:
    with gzip.open(DATA / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        img = np.frombuffer(f.read(), np.uint8, offset=16)[:784].reshape(28, 28)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    path = tmp / "digit.json"
    path.write_text(json.dumps({"images": [base64.b64encode(buf.getvalue()).decode()]}))
    return path


def json_body(tmp: Path, name: str, body: dict) -> Path:
    path = tmp / name
    path.write_text(json.dumps(body))
    return path


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, rows) in enumerate(results["classify"].items()):
        c, color = [r["concurrency"] for r in rows], f"C{i}"
        ax1.plot(c, [r["rps"] for r in rows], marker="o", label=name, color=color)
        ax2.plot(c, [r["p50_ms"] for r in rows], marker="o", label=f"{name} p50", color=color)
        ax2.plot(c, [r["p99_ms"] for r in rows], marker="x", linestyle="--", label=f"{name} p99", color=color)
    ax1.set(xscale="log", xlabel="concurrency", ylabel="requests/s", title="classify lenet5-mnist: throughput")
    ax2.set(xscale="log", yscale="log", xlabel="concurrency", ylabel="latency (ms)", title="latency p50 / p99")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per point, interleaved; the median is reported")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        sys.exit("hey not found: apt-get install hey")
    tmp = Path(tempfile.mkdtemp())
    results: dict = {"classify": {}, "translate": {}, "generate": {}, "seconds": args.seconds, "rounds": args.rounds}
    ports = {k: free_port() for k in ("on", "on2", "off", "bound", "constant", "litserve")}
    procs = {
        "on": dlserve(ports["on"], True),
        "bound": dlserve(ports["bound"], True, device_state="true"),
        "on2": dlserve(ports["on2"], True, workers=2),
        "off": dlserve(ports["off"], False),
        "constant": start([sys.executable, "-m", "bench.constant_app", str(ports["constant"])], {}, "/docs",
                          ports["constant"]),
        "litserve": start([sys.executable, "-m", "bench.litserve_app", str(ports["litserve"])], {}, "/health",
                          ports["litserve"]),
    }  # fmt: skip
    try:
        body = digit_body(tmp)
        names = {
            "on": "dlserve (batching)",
            "on2": "dlserve (batching, 2 workers)",
            "off": "dlserve (no batching)",
            "bound": "dlserve (batching, state bound in onnxruntime)",
            "constant": "constant FastAPI",
            "litserve": "LitServe (batching)",
        }
        classify = {}
        for key, name in names.items():
            if key == "bound":
                continue  # the classifier has no decoder state
            classify[name] = f"http://127.0.0.1:{ports[key]}/v1/classify"
            hey(classify[name], body, 8, 1)  # warm-up
        results["classify"] = measure(classify, body, (1, 8, 64), args.seconds, args.rounds)
        tr = json_body(tmp, "tr.json", {"text": "A man in a blue shirt is riding a bike down the street.",
                                        "target": "fr", "beam_size": 5})  # fmt: skip
        gen = json_body(tmp, "gen.json", {"prompt": "ROMEO:", "max_tokens": 200, "seed": 1, "stream": True})
        decoders = ("on", "bound", "off")  # decoders: continuous batching (NumPy / bound state) vs off, 1 worker
        base = {names[key]: f"http://127.0.0.1:{ports[key]}/v1" for key in decoders}
        translate = {name: f"{url}/translate" for name, url in base.items()}
        results["translate"] = measure(translate, tr, (1, 32), args.seconds, args.rounds)
        results["generate"] = measure({n: f"{u}/generate" for n, u in base.items()}, gen, (1, 16), args.seconds,
                                      args.rounds)  # fmt: skip
        for rows in results["generate"].values():
            for r in rows:
                r["tokens_per_s"] = r["rps"] * 200
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(timeout=20)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    chart(results, args.out.with_suffix(".png"))
    print_tables(results)


def print_tables(results: dict) -> None:
    print("| server | c=1 req/s | c=1 p50 ms | c=8 req/s | c=64 req/s | c=64 p50 ms | c=64 p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (a, b, c) in results["classify"].items():
        print(f"| {name} | {a['rps']:.0f} | {a['p50_ms']:.2f} | {b['rps']:.0f} | {c['rps']:.0f} | "
              f"{c['p50_ms']:.1f} | {c['p99_ms']:.1f} |")  # fmt: skip
    print()
    print("| server | translate c=1 sent/s | c=32 sent/s | generate 1 stream tok/s | 16 streams tok/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (t1, t32) in results["translate"].items():
        g1, g16 = results["generate"][name]
        print(f"| {name} | {t1['rps']:.1f} | {t32['rps']:.1f} | {g1['tokens_per_s']:.0f} | {g16['tokens_per_s']:.0f} |")


if __name__ == "__main__":
    main()
