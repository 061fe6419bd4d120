"""Ray Serve: a FastAPI ingress deployment whose handler decodes the image and awaits a @serve.batch method
(up to 64 rows, 2 ms wait) that runs the graph; Ray's HTTP proxy in front, on a local Ray instance of its own.
(No `from __future__ import annotations`: Ray wraps the handlers, and FastAPI would then not find the body model.)

    python -m bench.peers.ray_serve.app PORT [REPLICAS]
"""

import os
import sys
import tempfile
import threading

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report (and no network) from a benchmark

import numpy as np  # noqa: E402
import ray  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from ray import serve  # noqa: E402

from bench.peers.lenet import Digits, session, top3  # noqa: E402

app = FastAPI()


class ClassifyRequest(BaseModel):
    images: list[str]


@serve.deployment
@serve.ingress(app)
class LeNet:
    def __init__(self) -> None:
        self.digits, self.graph = Digits(), session()

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def run(self, rows: list[np.ndarray]) -> list[dict]:
        (logits,) = self.graph.run(["logits"], {"image": np.stack(rows)})
        return top3(logits)

    @app.post("/v1/classify")
    async def classify(self, body: ClassifyRequest) -> dict:
        return {"results": [await self.run(self.digits(b)) for b in body.images]}

    @app.get("/health")
    async def health(self) -> dict:
        return {"status": "ok"}


if __name__ == "__main__":
    port, replicas = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, object_store_memory=200 * 2**20,
             _temp_dir=tempfile.mkdtemp(prefix="ray-"), log_to_driver=False)  # fmt: skip
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(LeNet.options(num_replicas=replicas).bind(), route_prefix="/")
    threading.Event().wait()
