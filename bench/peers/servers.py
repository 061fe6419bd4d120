"""The servers of the side-by-side benchmark: dlserve and its peers, each a command in a virtualenv.

Every server serves the committed LeNet-5 graph with one onnxruntime intra-op thread. A server answers on one or
both endpoint kinds: "typed" (POST {"images": [base64 PNG]} -> the top-3 labels, as dlserve's /v1/classify) and
"v2" (the Open Inference Protocol's POST /v2/models/lenet5-mnist/infer with the (1, 1, 28, 28) FP32 tensor as
JSON data). A command's "{python}" and "{bin}" are the server's interpreter and its bin/ folder; "{port}" is
the HTTP port and "{port2}", "{port3}" extra free ports (gRPC, metrics) for servers that must open them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("typed", "v2")
BASELINE = "dlserve (batching)"  # the ratios' denominator: dlserve, batching on, one process
V2_PATH = "/v2/models/lenet5-mnist/infer"
CLASSIFY = "/v1/classify"


@dataclass(frozen=True)
class Server:
    name: str  # the row in the tables
    command: tuple[str, ...]
    ready: str  # GET path that answers 200 once the server can serve
    endpoints: dict[str, str]  # kind -> POST path
    venv: str | None = None  # bench/.venv/<venv>; None: the interpreter running the benchmark (this repository's)
    env: dict[str, str] = field(default_factory=dict)
    config: str = ""  # how it is set up, for the README and results.json
    root: Path | None = None  # the checkout it runs from (cwd and PYTHONPATH); None: this one (bench.ab: another)


def dlserve(name: str, batching: bool = True, workers: int = 1, kinds: tuple[str, ...] = KINDS, **env: str) -> Server:
    # No gRPC: the servers run at once and would all take its default port.
    settings = {"DLSERVE_PORT": "{port}", "DLSERVE_BATCHING": str(batching).lower(), "DLSERVE_LOG_LEVEL": "warning",
                "DLSERVE_WORKERS": str(workers), "DLSERVE_GRPC_PORT": "0", **env}  # fmt: skip
    endpoints = {kind: {"typed": CLASSIFY, "v2": V2_PATH}[kind] for kind in kinds}
    config = f"batching {'on (its defaults)' if batching else 'off'}, {workers} worker process(es)"
    return Server(name, ("{python}", "-m", "service.cli", "serve"), "/readyz", endpoints, env=settings, config=config)


def _module(module: str, *args: str) -> tuple[str, ...]:
    return ("{python}", "-m", f"bench.peers.{module}", "{port}", *args)


# Every server, dlserve first; one-process and two-process variants where the peer has the option.
_PLAIN = "plain FastAPI (inline, no batching)"
_LIT = "LitServe (batching 64, 2 ms)"
_BENTO = "BentoML (adaptive batching 64)"
_RAY = "Ray Serve (@serve.batch 64, 2 ms)"
_KS = "KServe ModelServer (no batcher)"
_ML = "MLServer (adaptive batching 64, 2 ms)"
_KSERVE_PATHS = {"typed": "/v1/models/lenet5-mnist:predict", "v2": V2_PATH}
_BENTO_ENV = {"BENTOML_DO_NOT_TRACK": "True"}
SERVERS: list[Server] = [
    dlserve(BASELINE),
    dlserve("dlserve (batching, 2 workers)", workers=2),
    dlserve("dlserve (no batching)", batching=False, kinds=("typed",)),
    Server("constant FastAPI", ("{python}", "-m", "bench.constant_app", "{port}"),
           "/docs", {"typed": CLASSIFY}, config="reads the body, returns a constant: the HTTP stack's ceiling"),
    Server(_PLAIN, _module("plain_fastapi.app", "1"), "/health", {"typed": CLASSIFY}, "plain_fastapi",
           config="uvicorn, 1 process"),
    Server(f"{_PLAIN}, 2 workers", _module("plain_fastapi.app", "2"), "/health", {"typed": CLASSIFY},
           "plain_fastapi", config="uvicorn, 2 worker processes"),
    Server(_LIT, ("{python}", "-m", "bench.litserve_app", "{port}", "1", "1"), "/health", {"typed": CLASSIFY},
           "litserve", config="max_batch_size 64, batch_timeout 2 ms; API server + 1 inference worker"),
    Server(f"{_LIT}, 2 workers", ("{python}", "-m", "bench.litserve_app", "{port}", "1", "2"), "/health",
           {"typed": CLASSIFY}, "litserve", config="as above, workers_per_device 2"),
    Server(_BENTO, ("{bin}/bentoml", "serve", "bench.peers.bentoml.app:LeNet", "--host", "127.0.0.1", "--port",
           "{port}"), "/readyz", {"typed": CLASSIFY}, "bentoml", {**_BENTO_ENV, "BENCH_WORKERS": "1"},
           config="batchable API, max_batch_size 64, max_latency_ms 10000; 1 worker"),
    Server(f"{_BENTO}, 2 workers", ("{bin}/bentoml", "serve", "bench.peers.bentoml.app:LeNet", "--host",
           "127.0.0.1", "--port", "{port}"), "/readyz", {"typed": CLASSIFY}, "bentoml",
           {**_BENTO_ENV, "BENCH_WORKERS": "2"}, config="as above, 2 workers"),
    Server(_RAY, _module("ray_serve.app", "1"), "/health", {"typed": CLASSIFY}, "ray_serve",
           config="FastAPI ingress, @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002); 1 replica"),
    Server(f"{_RAY}, 2 replicas", _module("ray_serve.app", "2"), "/health", {"typed": CLASSIFY}, "ray_serve",
           config="as above, 2 replicas"),
    Server(_KS, ("{python}", "-m", "bench.peers.kserve.app", "--http_port", "{port}", "--enable_grpc", "false"),
           "/v2/health/ready", _KSERVE_PATHS, "kserve", config="custom Model, async predict inline; 1 process"),
    Server(f"{_KS}, 2 workers", ("{python}", "-m", "bench.peers.kserve.app", "--http_port", "{port}",
           "--enable_grpc", "false", "--workers", "2"), "/v2/health/ready", _KSERVE_PATHS, "kserve",
           config="as above, --workers 2"),
    Server(_ML, ("{python}", "-m", "bench.peers.mlserver.app", "{port}", "{port2}", "{port3}", "1"),
           "/v2/models/lenet5-mnist/ready", {"v2": V2_PATH}, "mlserver",
           config="max_batch_size 64, max_batch_time 2 ms; front end + 1 inference worker"),
    Server(f"{_ML}, 2 workers", ("{python}", "-m", "bench.peers.mlserver.app", "{port}", "{port2}", "{port3}",
           "2"), "/v2/models/lenet5-mnist/ready", {"v2": V2_PATH}, "mlserver",
           config="as above, parallel_workers 2"),
    Server("PyTriton (Triton dynamic batcher 64, 2 ms)", _module("pytriton.app", "{port2}", "{port3}"),
           "/v2/models/lenet5-mnist/ready", {"v2": V2_PATH}, "pytriton",
           config="Triton's C++ HTTP front end and dynamic batcher (max_queue_delay 2 ms), 1 model instance"),
]  # fmt: skip
