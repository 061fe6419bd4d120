"""How much batching can give at most: each graph's cost per row at growing batch sizes, in one process.

    python -m bench.step_scaling [--out bench/step_scaling.json]

Batching merges rows into one onnxruntime call; it saves the per-call overhead and lets the kernels work on
bigger matrices, but the arithmetic per row stays. The ratio of the cost per row at the smallest batch to the
cost per row at the largest is the most any batching can gain on the model call itself on this machine.
Sessions use one intra-op thread, as the server does by default (DLSERVE_INTRA_OP_THREADS).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"


def lenet(rng, rows):
    return {"image": rng.standard_normal((rows, 1, 28, 28)).astype(np.float32)}


def gru_step(rng, rows, src=14):
    return {
        "tokens": rng.integers(4, 500, rows).astype(np.int64),
        "state": rng.standard_normal((rows, 512), np.float32),
        "memory": rng.standard_normal((rows, src, 512), np.float32),
        "keys": rng.standard_normal((rows, src, 256), np.float32),
        "mask": np.ones((rows, src), np.float32),
    }


def lstm_step(rng, rows):
    return {
        "tokens": rng.integers(0, 65, rows).astype(np.int64),
        "h": rng.standard_normal((2, rows, 512), np.float32),
        "c": rng.standard_normal((2, rows, 512), np.float32),
    }


GRAPHS = {
    # name: (graph file, feeds, batch sizes: the first is what one request brings without batching)
    "lenet5-mnist classifier": ("lenet5-mnist/1/model.onnx", lenet, (1, 8, 64)),
    # v2 and v3: the same network averaging five shifted views; v3's views share C1, S2 and C3 (docs/models.md)
    "lenet5-mnist v2 (five views, one batch)": ("lenet5-mnist/2/model.onnx", lenet, (1, 8, 64)),
    "lenet5-mnist v3 (five views, shared work)": ("lenet5-mnist/3/model.onnx", lenet, (1, 8, 64)),
    "lenet5-mnist v4 (v3's graph, new weights; served)": ("lenet5-mnist/4/model.onnx", lenet, (1, 8, 64)),
    "gru-en-fr decoder step (beam 5)": ("gru-en-fr/1/decoder_step.onnx", gru_step, (5, 40, 160)),
    "charlstm-shakespeare step": ("charlstm-shakespeare/1/step.onnx", lstm_step, (1, 4, 16)),
}


def per_row_us(session: ort.InferenceSession, feeds: dict, rows: int, seconds: float = 1.0) -> float:
    for _ in range(5):
        session.run(None, feeds)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, feeds)
        n += 1
    return (time.perf_counter() - started) / n / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "step_scaling.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = {}
    print("| graph | rows | us per row | bound on batching's gain |")
    print("| --- | ---: | ---: | ---: |")
    for name, (file, make, sizes) in GRAPHS.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(MODELS / file), options, providers=["CPUExecutionProvider"])
        costs = {rows: per_row_us(session, make(rng, rows), rows) for rows in sizes}
        results[name] = {"us_per_row": costs, "bound": costs[sizes[0]] / costs[sizes[-1]]}
        for rows, us in costs.items():
            print(f"| {name} | {rows} | {us:.1f} | {costs[sizes[0]] / us:.2f}x |")
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
