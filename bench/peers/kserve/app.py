"""KServe's ModelServer (the kserve Python SDK) with a custom Model and no batcher: the typed body on its v1 route
(POST /v1/models/lenet5-mnist:predict, {"images": [base64 PNG]}) and the Open Inference Protocol on its v2 route
(POST /v2/models/lenet5-mnist/infer), both from one server, the work done inline in the async predict.

    python -m bench.peers.kserve.app --http_port PORT [--workers N] --enable_grpc false

(ModelServer reads its own flags: --workers > 1 forks uvicorn workers. It listens on 0.0.0.0; the benchmark
sends only to 127.0.0.1.)
"""

from __future__ import annotations

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer

from bench.peers.lenet import NAME, Digits, session, top3


class LeNet(Model):
    def __init__(self) -> None:
        super().__init__(NAME)
        self.load()

    def load(self) -> bool:
        self.digits, self.graph = Digits(), session()
        self.ready = True
        return True

    # --workers > 1 spawns uvicorn workers and pickles the model into them: each opens its own session.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("digits", "graph")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.load()

    async def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):  # v2: the (B, 1, 28, 28) tensor, logits back
            (logits,) = self.graph.run(["logits"], {"image": payload.inputs[0].as_numpy()})
            out = InferOutput(name="logits", shape=list(logits.shape), datatype="FP32", data=logits.ravel().tolist())
            return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[out])
        (logits,) = self.graph.run(["logits"], {"image": np.stack([self.digits(b) for b in payload["images"]])})
        return {"results": top3(logits)}


if __name__ == "__main__":
    ModelServer().start([LeNet()])
