"""The HTTP stack's own ceiling: a minimal FastAPI endpoint that reads the body and returns a constant.

python -m bench.constant_app PORT
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI()
ANSWER = {"results": [{"predictions": [{"label": "7", "index": 7, "probability": 1.0}]}]}


@app.post("/v1/classify")
async def classify(request: Request) -> dict:
    await request.body()
    return ANSWER


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
