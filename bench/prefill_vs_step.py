"""Benchmark: the prefill graph against stepping the step graph over a prompt, side by side in one run.

    .venv/bin/python -m bench.prefill_vs_step [--model-dir models] [--repeats 5]

Both paths run alternately on the same prompts in the same process, so machine noise hits both; the
ratio is what to read. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from service.repository import ModelRepository
from service.runtimes.generator import GeneratorRuntime
from service.settings import Settings

TEXT = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def stepped(runtime: GeneratorRuntime, ids: np.ndarray) -> np.ndarray:
    state = runtime.initial_state(1)
    for t in range(ids.shape[1]):
        logits, state = runtime.step(ids[:, t], state)
    return logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Settings().model_dir)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    repo = ModelRepository(Settings(model_dir=args.model_dir))
    repo.discover()
    entry = repo.get("charlstm-shakespeare")
    repo.load(entry)
    runtime = entry.runtime
    assert isinstance(runtime, GeneratorRuntime), entry.reason
    allowed = set(runtime.vocab)
    corpus = "".join(ch for ch in TEXT if ch in allowed) * 4
    print("| prompt chars | prefill graph (ms) | step loop (ms) | speed-up |")
    print("| ---: | ---: | ---: | ---: |")
    for n in (10, 100, 1000, 4000):
        ids = runtime.encode(corpus[:n])[None]
        a, b = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            la, _ = runtime.prefill(ids, runtime.initial_state(1))
            t1 = time.perf_counter()
            lb = stepped(runtime, ids)
            t2 = time.perf_counter()
            a.append(t1 - t0)
            b.append(t2 - t1)
        assert np.allclose(la, lb, atol=1e-3), "prefill and stepping disagree"
        pa, pb = np.median(a) * 1e3, np.median(b) * 1e3
        print(f"| {n} | {pa:.2f} | {pb:.2f} | {pb / pa:.1f}x |")


if __name__ == "__main__":
    main()
