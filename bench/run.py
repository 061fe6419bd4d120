"""Benchmark dlserve side by side with peers in one run, with `hey` as the load generator.

    python -m bench.run [--seconds 5] [--rounds 3] [--out bench/results] [--no-pause]

Servers started here on 127.0.0.1 (bench/peers/servers.py): dlserve (batching on, one and two workers; batching
off), a constant FastAPI endpoint (the HTTP stack's ceiling) and the peers, each in its own virtualenv from
`make bench-envs`, serving the same LeNet-5 ONNX graph with one onnxruntime thread: on the typed endpoint (the
same JSON body of one base64 PNG) a plain FastAPI app, LitServe, BentoML, Ray Serve and KServe; on the Open
Inference Protocol (the same (1, 1, 28, 28) FP32 tensor as JSON) MLServer, KServe and PyTriton. A peer that cannot
install, start or answer correctly is listed with its error and the run goes on without it. Only the server under
load runs; the others are paused (SIGSTOP of their process trees) unless --no-pause. Every point is measured
`--rounds` times, round-robin over the servers (each round starting with the next one), so a change in the
machine's load hits them alike; each point reports the round with the median throughput (every round is kept in
the JSON), with the servers' CPU milliseconds per request (user + system over the process tree), and each ratio
is the median of the rounds' own ratios, with their range. Then translate
and streamed generation on dlserve alone. Writes <out>.json and <out>.png and prints Markdown tables; read the
ratios, since the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.peers import report
from bench.peers.harness import interleaved, kind_urls, start_all, versions
from bench.peers.harness import measure as measure_servers
from bench.peers.load import free_port, hey  # noqa: F401 (free_port: for bench.ab, grpc_vs_http, soak)
from bench.peers.servers import BASELINE, SERVERS, dlserve

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("DLSERVE_DATA", REPO.parent / "shared" / "data"))


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


def measure(urls: dict[str, str], body: Path, concurrencies: tuple[int, ...], seconds: float, rounds: int) -> dict:
    """name -> one row per concurrency: the median-throughput round of `rounds`, interleaved across servers."""
    return interleaved(list(urls), concurrencies, rounds, lambda name, c: hey(urls[name], body, c, seconds))


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


def v2_body(tmp: Path, digit: Path) -> Path:
    """The Open Inference Protocol body of the same digit: its (1, 1, 28, 28) row from dlserve's preprocessing."""
    from bench.peers.lenet import Digits

    row = Digits()(json.loads(digit.read_text())["images"][0])
    tensor = {"name": "image", "shape": [1, *row.shape], "datatype": "FP32", "data": row.ravel().tolist()}
    return json_body(tmp, "v2.json", {"id": "1", "inputs": [tensor]})


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


# Only for translate and generate: the decoders with their state bound in onnxruntime.
BOUND = dlserve("dlserve (batching, state bound in onnxruntime)", kinds=(), DLSERVE_DEVICE_STATE="true")
DECODERS = (BASELINE, BOUND.name, "dlserve (no batching)")  # continuous batching (NumPy / bound state) vs off


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per point, interleaved; the median is reported")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--no-pause", action="store_true", help="leave the servers not under load running")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        sys.exit("hey not found: apt-get install hey")
    tmp = Path(tempfile.mkdtemp())
    digit = digit_body(tmp)
    bodies = {"typed": digit, "v2": v2_body(tmp, digit)}
    servers = [*SERVERS, BOUND]
    running, failed = start_all(servers, bodies, tmp, pause=not args.no_pause)
    results: dict = {"classify": {}, "v2": {}, "translate": {}, "generate": {}, "seconds": args.seconds,
                     "rounds": args.rounds, "failed": failed, "logs": str(tmp)}  # fmt: skip
    results["servers"] = {s.name: {"config": s.config, "command": list(s.command), "venv": s.venv,
                                   "endpoints": s.endpoints, "versions": versions(s) if s.name in running else {}}
                          for s in servers}  # fmt: skip
    try:
        for kind, key in (("typed", "classify"), ("v2", "v2")):
            urls = kind_urls(running, kind)
            results[key] = measure_servers(running, urls, bodies[kind], (1, 8, 64), args.seconds, args.rounds)
        tr = json_body(tmp, "tr.json", {"text": "A man in a blue shirt is riding a bike down the street.",
                                        "target": "fr", "beam_size": 5})  # fmt: skip
        gen = json_body(tmp, "gen.json", {"prompt": "ROMEO:", "max_tokens": 200, "seed": 1, "stream": True})
        base = {name: f"http://127.0.0.1:{running[name].port}/v1" for name in DECODERS if name in running}
        results["translate"] = measure_servers(running, {n: f"{u}/translate" for n, u in base.items()}, tr,
                                               (1, 32), args.seconds, args.rounds)  # fmt: skip
        results["generate"] = measure_servers(running, {n: f"{u}/generate" for n, u in base.items()}, gen,
                                              (1, 16), args.seconds, args.rounds)  # fmt: skip
        for rows in results["generate"].values():
            for r in rows:
                r["tokens_per_s"] = r["rps"] * 200
    finally:
        for r in running.values():
            r.stop()
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    chart(results, args.out.with_suffix(".png"))
    print_tables(results)


def print_tables(results: dict) -> None:
    print("| server | c=1 req/s | c=1 p50 ms | c=8 req/s | c=64 req/s | c=64 p50 ms | c=64 p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (a, b, c) in results["classify"].items():
        print(f"| {name} | {a['rps']:.0f} | {a['p50_ms']:.2f} | {b['rps']:.0f} | {c['rps']:.0f} | "
              f"{c['p50_ms']:.1f} | {c['p99_ms']:.1f} |")  # fmt: skip
    servers = results.get("servers", {})
    for kind, key, title in (("typed", "classify", "typed classify"), ("v2", "v2", "v2 infer")):
        failed = {n: e for n, e in results.get("failed", {}).items() if kind in servers.get(n, {}).get("endpoints", {})}
        print()
        print("\n".join(report.ratio_table(results.get(key, {}), failed, BASELINE, title)))
    print()
    print("| server | translate c=1 sent/s | c=32 sent/s | generate 1 stream tok/s | 16 streams tok/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (t1, t32) in results["translate"].items():
        g1, g16 = results["generate"][name]
        print(f"| {name} | {t1['rps']:.1f} | {t32['rps']:.1f} | {g1['tokens_per_s']:.0f} | {g16['tokens_per_s']:.0f} |")


if __name__ == "__main__":
    main()
