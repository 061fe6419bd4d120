"""A plain FastAPI app: the typed classify endpoint with the work done inline in its async handler, no
framework around the model and no batching, served by uvicorn (with uvloop and httptools, as dlserve).

    python -m bench.peers.plain_fastapi.app PORT [WORKERS]
"""

from __future__ import annotations

import sys

import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from bench.peers.lenet import Digits, session, top3

app = FastAPI()
digits = Digits()
graph = session()


class ClassifyRequest(BaseModel):
    images: list[str]


@app.post("/v1/classify")
async def classify(body: ClassifyRequest) -> dict:
    (logits,) = graph.run(["logits"], {"image": np.stack([digits(b64) for b64 in body.images])})
    return {"results": top3(logits)}


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    uvicorn.run("bench.peers.plain_fastapi.app:app", host="127.0.0.1", port=port, workers=workers,
                log_level="warning", access_log=False)  # fmt: skip
