"""MLServer with its adaptive batching (up to 64 requests, 2 ms): a custom MLModel runtime serving the Open
Inference Protocol (POST /v2/models/lenet5-mnist/infer); MLServer merges the requests' tensors along the first
axis and splits the logits back. The HTTP front end is one process and inference runs in WORKERS worker
processes (MLServer's parallel_workers, 1 by default).

    python -m bench.peers.mlserver.app HTTP_PORT GRPC_PORT METRICS_PORT [WORKERS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

from mlserver import MLModel, MLServer
from mlserver.codecs import NumpyCodec
from mlserver.settings import ModelSettings, Settings
from mlserver.types import InferenceRequest, InferenceResponse

from bench.peers.lenet import NAME, session


class LeNet(MLModel):
    async def load(self) -> bool:
        self.graph = session()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        (logits,) = self.graph.run(["logits"], {"image": NumpyCodec.decode_input(payload.inputs[0])})
        return InferenceResponse(
            model_name=self.name, id=payload.id, outputs=[NumpyCodec.encode_output("logits", logits)]
        )


def main(http_port: int, grpc_port: int, metrics_port: int, workers: int = 1) -> None:
    from bench.peers.mlserver.app import LeNet as Runtime  # by its module path: the workers import it by name

    scratch = tempfile.mkdtemp(prefix="mlserver-")
    settings = Settings(host="127.0.0.1", http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port,
                        parallel_workers=workers, debug=False, metrics_dir=f"{scratch}/metrics",
                        environments_dir=f"{scratch}/envs", load_models_at_startup=False)  # fmt: skip
    model = ModelSettings(name=NAME, implementation=Runtime, max_batch_size=64, max_batch_time=0.002)
    asyncio.run(serve(settings, model))


async def serve(settings: Settings, model: ModelSettings) -> None:
    await MLServer(settings).start([model])  # MLServer() itself needs the running loop


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
