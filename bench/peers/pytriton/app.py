"""PyTriton (nvidia-pytriton): Triton Inference Server's C++ HTTP front end and dynamic batcher (up to 64 rows,
2 ms queue delay) in front of a Python function that runs the graph, on the Open Inference Protocol
(POST /v2/models/lenet5-mnist/infer). One model instance; Triton's own process is a child of this one.

    python -m bench.peers.pytriton.app HTTP_PORT GRPC_PORT METRICS_PORT
"""

from __future__ import annotations

import os
import sys
import sysconfig

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from bench.peers.lenet import NAME, session

graph = session()


@batch
def infer(image: np.ndarray) -> dict[str, np.ndarray]:
    (logits,) = graph.run(["logits"], {"image": image})
    return {"logits": logits}


def main(http_port: int, grpc_port: int, metrics_port: int) -> None:
    # Triton's Python backend stub links libpython3.X.so: it must load this interpreter's, not another copy of the
    # same minor version (Debian's 3.11.2 beside pyenv's 3.11.7 failed in the stdlib's multiprocessing).
    libs = [sysconfig.get_config_var("LIBDIR"), os.environ.get("LD_LIBRARY_PATH")]
    os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(x for x in libs if x)
    config = TritonConfig(http_address="127.0.0.1", http_port=http_port, grpc_address="127.0.0.1",
                          grpc_port=grpc_port, metrics_port=metrics_port, log_verbose=0)  # fmt: skip
    with Triton(config=config) as triton:
        triton.bind(
            model_name=NAME,
            infer_func=infer,
            inputs=[Tensor(name="image", dtype=np.float32, shape=(1, 28, 28))],
            outputs=[Tensor(name="logits", dtype=np.float32, shape=(10,))],
            config=ModelConfig(max_batch_size=64, batcher=DynamicBatcher(max_queue_delay_microseconds=2000)),
        )
        triton.serve()


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
