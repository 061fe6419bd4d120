"""int8 against float over HTTP, side by side in one run, with `hey` as the load generator.

    python -m bench.quantized [--seconds 5] [--rounds 3] [--out bench/quantized] [--only MODEL ...]

For each model with an int8 version (`dlserve export <model> --quantize int8`), two dlserve servers on 127.0.0.1,
batching on, one worker each: one serves the float version the int8 one came from, the other the int8 version
(a repository of hard links holding just that version, so it serves it whether or not it is opt-in). Only the
server under load runs; every point is measured in interleaved rounds and the median round is reported, with
CPU milliseconds per request (bench/peers/harness.py). Workloads: photo classification at 64 concurrent
one-photo requests, translation at 32 concurrent one-sentence requests (sentences/s) and streamed generation of
200 tokens with 16 streams (tokens/s). With --only, just those models are measured and their entries replace
theirs in the results file, the others' being kept as they were.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench.peers.harness import REPO, measure, start_all
from bench.peers.servers import dlserve
from bench.run import DATA, digit_body, json_body, v2_body

SENTENCE = "A man in an orange hat starring at something."  # the first test2016 sentence
TOKENS = 200
# model -> (path, body, concurrency, items per request, unit); a str body names a photo body of bodies()
WORKLOADS = {
    "alexnet-cifar10": ("/v1/classify?model=alexnet-cifar10", "cifar", 64, 1, "photos/s"),
    "captioner-flickr8k": ("/v1/caption", "flickr", 16, 1, "photos/s"),
    "gru-en-fr": ("/v1/translate", {"text": SENTENCE, "target": "fr"}, 32, 1, "sentences/s"),
    "gru-en-de": ("/v1/translate", {"text": SENTENCE, "target": "de"}, 32, 1, "sentences/s"),
    "charlstm-shakespeare": (
        "/v1/generate", {"prompt": "ROMEO:", "max_tokens": TOKENS, "seed": 1, "stream": True}, 16, TOKENS, "tokens/s",
    ),
}  # fmt: skip


def pairs(models: Path) -> dict[str, tuple[int, int]]:
    """model -> (float version, int8 version): the newest int8 version of each model and its source."""
    found = {}
    for name in WORKLOADS:
        for folder in sorted((models / name).glob("[0-9]*"), key=lambda p: int(p.name), reverse=True):
            q = json.loads((folder / "manifest.json").read_text()).get("quantization")
            if q:
                found[name] = (q["from_version"], int(folder.name))
                break
    return found


def photo_body(tmp: Path, kind: str) -> Path:
    """A body of one base64 photo: the first CIFAR-10 test photo (a cat) as PNG, or the first Flickr8k test
    photo's JPEG file."""
    if kind == "cifar":
        with np.load(DATA / "cifar10" / "cifar10.npz", allow_pickle=False) as npz:
            buf = io.BytesIO()
            Image.fromarray(npz["x_test"][0]).save(buf, format="PNG")
            data = buf.getvalue()
    else:
        first = (DATA / "flickr8k" / "Flickr_8k.testImages.txt").read_text().split()[0]
        data = (DATA / "flickr8k" / "images" / first).read_bytes()
    return json_body(tmp, f"{kind}.json", {"images": [base64.b64encode(data).decode()]})


def repository(root: Path, versions: dict[str, int]) -> Path:
    """A model repository holding `versions` (model -> version) and the digit classifier the harness checks."""
    for name, version in {"lenet5-mnist": 1, **versions}.items():  # hard links: nothing links outside it
        shutil.copytree(REPO / "models" / name / str(version), root / name / str(version), copy_function=os.link)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "quantized")
    parser.add_argument("--only", choices=list(WORKLOADS), action="append", help="these models (default: all)")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        sys.exit("hey not found: apt-get install hey")
    found = {n: v for n, v in pairs(REPO / "models").items() if not args.only or n in args.only}
    if not found:
        sys.exit("no int8 version in models/: run `dlserve export <model> --quantize int8` first")
    tmp = Path(tempfile.mkdtemp())
    roots = {
        kind: repository(tmp / kind, {name: v[i] for name, v in found.items()})
        for i, kind in enumerate(("float", "int8"))
    }
    servers = [dlserve(kind, DLSERVE_MODEL_DIR=str(root)) for kind, root in roots.items()]
    digit = digit_body(tmp)
    running, failed = start_all(servers, {"typed": digit, "v2": v2_body(tmp, digit)}, tmp)
    if failed:
        sys.exit(f"servers that did not start: {failed}")
    results: dict = {"seconds": args.seconds, "rounds": args.rounds, "versions": found}
    try:
        for name, (path, body, concurrency, items, unit) in WORKLOADS.items():
            if name not in found:
                continue
            urls = {kind: f"http://127.0.0.1:{r.port}{path}" for kind, r in running.items()}
            body_file = photo_body(tmp, body) if isinstance(body, str) else json_body(tmp, f"{name}.json", body)
            rows = measure(running, urls, body_file, (concurrency,), args.seconds, args.rounds)
            results[name] = {"unit": unit, "items_per_request": items, "seconds": args.seconds,
                             "rounds": args.rounds, **rows}  # fmt: skip
    finally:
        for r in running.values():
            r.stop()
    out = args.out.with_suffix(".json")
    if args.only and out.exists():
        results = merged(json.loads(out.read_text()), results)
    out.write_text(json.dumps(results, indent=1))
    print("\n".join(table(results)))


def merged(previous: dict, new: dict) -> dict:
    """The results of an --only run laid over an earlier file: its models replace theirs, the others stay."""
    return {**previous, **new, "versions": {**previous.get("versions", {}), **new["versions"]}}


def table(results: dict) -> list[str]:
    lines = [
        "| model | workload | float (CPU ms/req) | int8 (CPU ms/req) | int8 / float |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name in (n for n in WORKLOADS if n in results):
        r = results[name]
        (f,), (q,) = r["float"], r["int8"]
        rate = {k: row["rps"] * r["items_per_request"] for k, row in (("float", f), ("int8", q))}
        lines.append(
            f"| {name} v{results['versions'][name][0]} vs v{results['versions'][name][1]} | c={f['concurrency']}, "
            f"{r['unit']} | {rate['float']:.0f} ({f['cpu_ms_per_request']:.2f}) | {rate['int8']:.0f} "
            f"({q['cpu_ms_per_request']:.2f}) | {rate['int8'] / rate['float']:.2f}x |"
        )
    return lines


if __name__ == "__main__":
    main()
