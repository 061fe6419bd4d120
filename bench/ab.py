"""A/B of two checkouts of dlserve, side by side in one run, with `hey` as the load generator.

    python -m bench.ab --base ../dlserve-old [--seconds 5] [--rounds 3] [--out bench/ab]

Three servers on 127.0.0.1, batching on, one worker each: this checkout twice (an identical pair, whose gap is
the noise floor of the machine) and the checkout at --base (e.g. `git worktree add ../dlserve-old <commit>`),
run with this interpreter from its own folder, so its code, not this one, is imported. Every point is measured
in interleaved rounds (each round starting with the next server) and the median round is reported. A change
costs throughput only where base/this differs by more than this/this-again does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.run import REPO, digit_body, free_port, hey, json_body, measure, start

# The models the workloads call: both checkouts serve these, whereas a model newer than --base (a recipe kind
# it does not know) would keep the base server from becoming ready.
MODELS = ("lenet5-mnist", "gru-en-fr", "gru-en-de", "charlstm-shakespeare")
WORKLOADS = {  # name -> (path, body file, concurrencies)
    "classify": ("/v1/classify", "digit.json", (1, 64)),
    "v2 infer": ("/v2/models/lenet5-mnist/infer", "v2.json", (64,)),
    "translate": ("/v1/translate", "tr.json", (32,)),
    "generate (stream)": ("/v1/generate", "gen.json", (16,)),
}


def bodies(tmp: Path) -> None:
    digit_body(tmp)
    json_body(tmp, "v2.json", {"inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32",
                                           "data": [0.0] * 784}]})  # fmt: skip
    json_body(tmp, "tr.json", {"text": "A man in a blue shirt is riding a bike down the street.", "target": "fr"})
    json_body(tmp, "gen.json", {"prompt": "ROMEO:", "max_tokens": 200, "seed": 1, "stream": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (its repository root)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "ab")
    parser.add_argument("--only", choices=list(WORKLOADS), action="append", help="these workloads (default: all)")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        sys.exit("hey not found: apt-get install hey")
    base = args.base.resolve()
    servers = {"this": REPO, "this again": REPO, f"base ({base.name})": base}
    ports = {name: free_port() for name in servers}
    models = Path(tempfile.mkdtemp()) / "models"
    models.mkdir()
    for name in MODELS:  # hard links: the repository serves no folder that links outside itself
        shutil.copytree(REPO / "models" / name, models / name, copy_function=os.link)
    # No gRPC: the three servers would all take its default port.
    env = {"DLSERVE_LOG_LEVEL": "warning", "DLSERVE_MODEL_DIR": str(models), "DLSERVE_GRPC_PORT": "0"}
    procs = [
        start([sys.executable, "-m", "service.cli", "serve"], {**env, "DLSERVE_PORT": str(ports[name])}, "/readyz",
              ports[name], cwd=cwd)
        for name, cwd in servers.items()
    ]  # fmt: skip
    tmp = Path(tempfile.mkdtemp())
    bodies(tmp)
    results: dict = {"base": str(base), "seconds": args.seconds, "rounds": args.rounds}
    try:
        for workload in args.only or WORKLOADS:
            path, body, concurrencies = WORKLOADS[workload]
            urls = {name: f"http://127.0.0.1:{port}{path}" for name, port in ports.items()}
            for url in urls.values():
                hey(url, tmp / body, 4, 1)  # warm-up
            results[workload] = measure(urls, tmp / body, concurrencies, args.seconds, args.rounds)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print_table(results)


def print_table(results: dict) -> None:
    names = list(next(v for k, v in results.items() if k in WORKLOADS))
    print("| workload | " + " | ".join(f"{n} req/s" for n in names) + " | this again / this | base / this |")
    print("| --- | " + " | ".join("---:" for _ in names) + " | ---: | ---: |")
    for workload in (w for w in WORKLOADS if w in results):
        for i, _ in enumerate(results[workload][names[0]]):
            rows = [results[workload][n][i] for n in names]
            rps = [r["rps"] for r in rows]
            label = f"{workload} c={rows[0]['concurrency']}"
            print(f"| {label} | " + " | ".join(f"{x:.1f}" for x in rps) + f" | {rps[1] / rps[0]:.3f} | "
                  f"{rps[2] / rps[0]:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
