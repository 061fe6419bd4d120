"""A/B of checkouts of dlserve, side by side in one run, with `hey` as the load generator.

    python -m bench.ab --base ../dlserve-old [--base ../another ...] [--seconds 5] [--rounds 3] [--out bench/ab]

Servers on 127.0.0.1, batching on, one worker each: this checkout twice (an identical pair, whose gap is the
noise floor of the machine) and each checkout given by --base (e.g. `git worktree add ../dlserve-old <commit>`),
run with this interpreter from its own folder, so its code, not this one, is imported. They start, are checked
and are measured by the peers' harness (bench/peers/harness.py): only the server under load runs, the others
are paused; every point is measured in interleaved rounds (each round starting with the next server) and the
median round is reported, with the servers' CPU milliseconds per request. A change costs (or gains) only where
base/this differs by more than this-again/this does; CPU per request is the steadier of the two figures on a
shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.peers.harness import REPO, measure, start_all
from bench.peers.servers import dlserve
from bench.run import digit_body, json_body, v2_body

# The models the workloads call: every checkout serves these, whereas a model newer than a base (a recipe kind
# it does not know) would keep that server from becoming ready.
MODELS = ("lenet5-mnist", "gru-en-fr", "gru-en-de", "charlstm-shakespeare")
WORKLOADS = {  # name -> (path, body file, concurrencies)
    "classify": ("/v1/classify", "digit.json", (1, 64)),
    "v2 infer": ("/v2/models/lenet5-mnist/infer", "v2.json", (64,)),
    "translate": ("/v1/translate", "tr.json", (32,)),
    "generate (stream)": ("/v1/generate", "gen.json", (16,)),
}


def bodies(tmp: Path) -> dict[str, Path]:
    """Every workload's body in `tmp`; returns the two each server is checked with (a 7, typed and v2)."""
    digit = digit_body(tmp)
    json_body(tmp, "tr.json", {"text": "A man in a blue shirt is riding a bike down the street.", "target": "fr"})
    json_body(tmp, "gen.json", {"prompt": "ROMEO:", "max_tokens": 200, "seed": 1, "stream": True})
    return {"typed": digit, "v2": v2_body(tmp, digit)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, action="append", required=True, help="another checkout (its root)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "ab")
    parser.add_argument("--only", choices=list(WORKLOADS), action="append", help="these workloads (default: all)")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        sys.exit("hey not found: apt-get install hey")
    models = Path(tempfile.mkdtemp()) / "models"
    models.mkdir()
    for name in MODELS:  # hard links: the repository serves no folder that links outside itself
        shutil.copytree(REPO / "models" / name, models / name, copy_function=os.link)
    roots = {"this": REPO, "this again": REPO, **{f"base {i + 1} ({b.resolve().name})": b.resolve()
                                                   for i, b in enumerate(args.base)}}  # fmt: skip
    servers = [replace(dlserve(name, DLSERVE_MODEL_DIR=str(models)), root=root) for name, root in roots.items()]
    tmp = Path(tempfile.mkdtemp())
    running, failed = start_all(servers, bodies(tmp), tmp)  # each answers a 7, typed and v2, before it counts
    if failed:
        sys.exit(f"servers that did not start: {failed}")
    results: dict = {"bases": [str(b) for b in args.base], "seconds": args.seconds, "rounds": args.rounds}
    try:
        for workload in args.only or WORKLOADS:
            path, body, concurrencies = WORKLOADS[workload]
            urls = {name: f"http://127.0.0.1:{r.port}{path}" for name, r in running.items()}
            results[workload] = measure(running, urls, tmp / body, concurrencies, args.seconds, args.rounds)
    finally:
        for r in running.values():
            r.stop()
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print("\n".join(table(results)))


def table(results: dict) -> list[str]:
    names = list(next(v for k, v in results.items() if k in WORKLOADS))
    lines = [
        "| workload | " + " | ".join(f"{n} req/s (CPU ms/req)" for n in names)
        + " | this again / this | " + " | ".join(f"{n} / this" for n in names[2:]) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " | ---: | " + " | ".join("---:" for _ in names[2:]) + " |",
    ]  # fmt: skip
    for workload in (w for w in WORKLOADS if w in results):
        for i, _ in enumerate(results[workload][names[0]]):
            rows = [results[workload][n][i] for n in names]
            cells = [f"{r['rps']:.0f} ({r['cpu_ms_per_request']:.3f})" for r in rows]
            ratios = [f"{r['rps'] / rows[0]['rps']:.3f}" for r in rows[1:]]
            lines.append(f"| {workload} c={rows[0]['concurrency']} | " + " | ".join(cells) + " | "
                         + " | ".join(ratios) + " |")  # fmt: skip
    return lines


if __name__ == "__main__":
    main()
