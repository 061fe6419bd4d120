"""Service settings, read from `DLSERVE_*` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models"
# Probes and scrapers usually cannot send a key: these stay open unless DLSERVE_AUTH_OPEN_PATHS says otherwise.
PROBE_PATHS = ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics")
PAGE_PATHS = ("/", "/static/app.js", "/static/style.css")  # the playground page itself holds no data
ALWAYS_KEYED_PREFIX = "/v2/repository"  # load/unload change what is served: never open while keys are set

CommaList = Annotated[list[str], NoDecode]  # DLSERVE_X=a,b,c (not JSON)
CommaDict = Annotated[dict[str, str], NoDecode]  # DLSERVE_X=a=1,b=2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DLSERVE_", env_file=None, extra="ignore")

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="model repository: <name>/<version>/manifest.json")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    grpc_port: int = Field(
        8001, ge=0, le=65535, description="the Open Inference Protocol over gRPC, on the same host; 0: off"
    )
    providers: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when onnxruntime can get it, else CPU; cuda: fail a model without CUDA"
    )
    intra_op_threads: int = Field(
        1, ge=0, description="onnxruntime threads per session; 0 lets it decide (one per core)"
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="largest request body, every endpoint (413)")
    body_timeout_s: float = Field(
        30.0, gt=0, description="longest a client may take to send its whole request body; beyond: 408"
    )
    max_image_pixels: int = Field(40_000_000, gt=0, description="largest decoded image (width x height)")
    max_images_per_request: int = Field(64, gt=0)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes, each with its own model copies")
    log_level: str = "info"
    log_json: bool = Field(True, description="log JSON lines (with request ids) instead of plain text")
    opentelemetry: bool = Field(
        False,
        description="FastAPI's OpenTelemetry spans, metrics and logs through the globally configured providers; "
        "off: not even looked up per request",
    )
    batching: bool = Field(True, description="dynamic and continuous batching; off: one request per model call")
    max_batch_size: int | None = Field(None, gt=0, description="override every manifest's max_batch_size")
    max_delay_ms: float | None = Field(None, ge=0, description="override every manifest's max_delay_ms")
    device_state: Literal["auto", "true", "false"] = Field(
        "auto",
        description="keep decoder state in onnxruntime memory between steps (I/O binding); auto: only when the "
        "step runs on CUDA (on the CPU, NumPy copies cost less than selecting rows in onnxruntime); false: NumPy",
    )
    max_decoder_rows: int = Field(512, gt=0, description="rows (sequences, beams) per decoder step call")
    max_queue: int = Field(256, gt=0, description="requests queued or running per model; beyond: 429")
    request_timeout_s: float = Field(30.0, gt=0, description="default deadline; X-Request-Timeout overrides")
    default_models: CommaDict = Field(
        default_factory=dict,
        description="task=model pairs (classify=lenet5-mnist,...): the model a request gets when it names none; "
        'unset tasks take the model whose manifest says "default": true, or their only model',
    )
    readiness: Literal["all", "any"] = Field(
        "all", description="/readyz is 200 when all (or any) discovered models are ready"
    )
    api_keys: CommaList = Field(
        default_factory=list, repr=False, description="comma-separated API keys; empty: no authentication"
    )
    auth_open_paths: CommaList = Field(
        default_factory=lambda: [*PROBE_PATHS, *PAGE_PATHS],
        description="paths served without a key while keys are set",
    )
    cors_origins: CommaList = Field(default_factory=list, description="origins allowed by CORS; empty: CORS off")
    cors_allow_credentials: bool = Field(False, description="let browsers send cookies and Authorization cross-origin")
    shutdown_grace_s: float = Field(
        30.0, ge=0, description="SIGTERM: how long in-flight requests may take to finish before they are cut"
    )
    shutdown_delay_s: float = Field(
        0.0, ge=0, description="SIGTERM: keep serving (not ready) at least this long, for load balancers to notice"
    )

    @field_validator("device_state", mode="before")
    @classmethod
    def _switch_words(cls, value: object) -> object:
        words = {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false", "off": "false"}
        text = str(value).strip().lower()
        return words.get(text, text)

    @field_validator("api_keys", "auth_open_paths", "cors_origins", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("default_models", mode="before")
    @classmethod
    def split_pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            task, sep, name = (x.strip() for x in part.partition("="))
            if not sep or not task or not name:
                raise ValueError(f"{part!r} is not task=model (e.g. classify=lenet5-mnist)")
            pairs[task] = name
        return pairs

    @field_validator("auth_open_paths")
    @classmethod
    def repository_stays_keyed(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/"):
                raise ValueError(f"open path {path!r} must start with '/'")
            if path.startswith(ALWAYS_KEYED_PREFIX):
                raise ValueError(f"{path!r} cannot be open: repository load/unload always needs a key")
        return paths
