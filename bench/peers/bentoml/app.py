"""BentoML with its adaptive batching: the typed classify endpoint as one batchable API (up to 64 requests
merged; BentoML picks the wait itself, bounded by max_latency_ms, and has no fixed-delay setting).

    BENCH_WORKERS=1 bentoml serve bench.peers.bentoml.app:LeNet --host 127.0.0.1 --port PORT

(from the repository root; BENCH_WORKERS sets the service's worker processes). A batch's images are decoded in
the batched call: BentoML batches a method's inputs as the request sent them.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np

from bench.peers.lenet import Digits, session, top3


@bentoml.service(workers=int(os.environ.get("BENCH_WORKERS", "1")), logging={"access": {"enabled": False}})
class LeNet:
    def __init__(self) -> None:
        self.digits, self.graph = Digits(), session()

    @bentoml.api(route="/v1/classify", batchable=True, max_batch_size=64, max_latency_ms=10_000)
    def classify(self, images: list[str]) -> list[dict]:
        (logits,) = self.graph.run(["logits"], {"image": np.stack([self.digits(b) for b in images])})
        return top3(logits)
