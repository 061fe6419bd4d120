"""Open Inference Protocol inference over gRPC and over HTTP, side by side in one run.

    python -m bench.grpc_vs_http [--seconds 3] [--rounds 3] [--out bench/grpc_vs_http.json]

One dlserve server on 127.0.0.1 (lenet5-mnist only, batching on, one worker) serves both protocols on the same
models and engine; NVIDIA's own asyncio clients drive it from this process, `tritonclient.grpc.aio` (raw
tensor contents) and `tritonclient.http.aio` (the binary tensor data extension, both ways), with the same
tensors: one image per request (the per-request cost dominates) and 64 (200 kB of tensor per request). Each
point is `--rounds` runs of `--seconds` each, interleaved: every round measures every point, and within a
point the protocol measured first alternates by round, so a change in the machine's load hits both alike; a
point reports its median round (all rounds are kept). The answers of both protocols are checked equal first.
Writes <out> and prints a Markdown table; read the gRPC / HTTP ratios: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import tritonclient.grpc.aio as tgrpc
import tritonclient.http.aio as thttp

from bench.run import REPO, free_port, start

WORKLOADS = {"1 image": 1, "64 images": 64}  # rows of the lenet5-mnist input per request
CONCURRENCY = (1, 16)
PROTOCOLS = ("gRPC", "HTTP")


def inputs(module, rows: int) -> list:
    x = np.random.default_rng(rows).standard_normal((rows, 1, 28, 28)).astype(np.float32)
    tensor = module.InferInput("image", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return [tensor]


async def drive(call: Callable[[], Awaitable[object]], concurrency: int, seconds: float) -> dict:
    """`concurrency` loops calling `call` back to back for `seconds`: requests/s and latency percentiles."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    ms = sorted(x * 1000 for x in latencies)
    return {
        "concurrency": concurrency,
        "rps": round(len(ms) / elapsed, 1),
        "p50_ms": round(ms[len(ms) // 2], 3) if ms else None,
        "p99_ms": round(ms[int(len(ms) * 0.99)], 3) if ms else None,
        "requests": len(ms),
        "errors": errors,
    }


async def measure(grpc_url: str, http_url: str, seconds: float, rounds: int) -> dict:
    g, h = tgrpc.InferenceServerClient(grpc_url), thttp.InferenceServerClient(http_url)
    try:
        calls = {}
        for workload, rows in WORKLOADS.items():
            g_in, h_in = inputs(tgrpc, rows), inputs(thttp, rows)
            calls[workload] = {
                "gRPC": lambda g_in=g_in: g.infer("lenet5-mnist", g_in),
                "HTTP": lambda h_in=h_in: h.infer("lenet5-mnist", h_in),
            }
            same = [(await calls[workload][p]()).as_numpy("logits") for p in PROTOCOLS]
            np.testing.assert_array_equal(*same)  # the same answer either way
            for protocol in PROTOCOLS:
                await drive(calls[workload][protocol], 4, 0.5)  # warm-up
        runs: dict = {w: {c: {p: [] for p in PROTOCOLS} for c in CONCURRENCY} for w in WORKLOADS}
        for r in range(rounds):
            order = PROTOCOLS[r % 2 :] + PROTOCOLS[: r % 2]
            for workload in WORKLOADS:
                for concurrency in CONCURRENCY:
                    for protocol in order:
                        result = await drive(calls[workload][protocol], concurrency, seconds)
                        runs[workload][concurrency][protocol].append(result)
        return runs
    finally:
        await g.close()
        await h.close()


def summarize(runs: dict) -> dict:
    out: dict = {}
    for workload, per_c in runs.items():
        out[workload] = []
        for concurrency, per_p in per_c.items():
            row: dict = {"concurrency": concurrency}
            for protocol, results in per_p.items():
                median = dict(sorted(results, key=lambda r: r["rps"])[len(results) // 2])
                median["rps_rounds"] = [r["rps"] for r in results]
                row[protocol] = median
            row["grpc_over_http"] = round(row["gRPC"]["rps"] / row["HTTP"]["rps"], 3)
            row["grpc_over_http_rounds"] = [
                round(a["rps"] / b["rps"], 3) for a, b in zip(per_p["gRPC"], per_p["HTTP"], strict=True)
            ]
            out[workload].append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per point, interleaved; the median is reported")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "grpc_vs_http.json")
    args = parser.parse_args()
    models = Path(tempfile.mkdtemp())
    shutil.copytree(REPO / "models" / "lenet5-mnist", models / "lenet5-mnist")
    port, grpc_port = free_port(), free_port()
    env = {"DLSERVE_PORT": str(port), "DLSERVE_GRPC_PORT": str(grpc_port), "DLSERVE_MODEL_DIR": str(models),
           "DLSERVE_LOG_LEVEL": "warning"}  # fmt: skip
    server = start([sys.executable, "-m", "service.cli", "serve"], env, "/readyz", port)
    try:
        runs = asyncio.run(measure(f"127.0.0.1:{grpc_port}", f"127.0.0.1:{port}", args.seconds, args.rounds))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(models)
    results = {"seconds": args.seconds, "rounds": args.rounds, "cpus": os.cpu_count(), "points": summarize(runs)}
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print_table(results)


def print_table(results: dict) -> None:
    print("| workload | concurrency | gRPC req/s | HTTP req/s | gRPC / HTTP (rounds) | gRPC p50 ms | HTTP p50 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workload, rows in results["points"].items():
        for row in rows:
            g, h = row["gRPC"], row["HTTP"]
            spread = f"{min(row['grpc_over_http_rounds']):.2f}-{max(row['grpc_over_http_rounds']):.2f}"
            print(f"| {workload} | {row['concurrency']} | {g['rps']:.0f} | {h['rps']:.0f} | "
                  f"**{row['grpc_over_http']:.2f}** ({spread}) | {g['p50_ms']:.2f} | {h['p50_ms']:.2f} |")  # fmt: skip
    print(f"median of {results['rounds']} interleaved rounds of {results['seconds']:g} s each")


if __name__ == "__main__":
    main()
