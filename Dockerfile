# dlserve model server: a CPU image (the default target) and a GPU image (--target gpu). Needs BuildKit.
#
#   docker build -t dlserve:latest .                          # CPU: python:3.11-slim + onnxruntime, no torch
#   docker run --rm -p 127.0.0.1:8000:8000 dlserve:latest
#   docker build --target gpu -t dlserve:gpu .                # GPU: NVIDIA CUDA + cuDNN runtime + onnxruntime-gpu
#   docker run --rm --gpus all -p 127.0.0.1:8000:8000 dlserve:gpu
#
# Optional build settings (builder stages only; none of them reaches a final image):
#   --build-arg BASE_IMAGE=...        another Python >= 3.11 base for the CPU image; both CPU stages use it,
#                                     because the copied venv links to the base image's interpreter
#   --build-arg GPU_BASE_IMAGE=...    another CUDA + cuDNN runtime base (Debian or Ubuntu) for the GPU image;
#                                     its CUDA major must match ORT_GPU_VERSION's (1.31 is built for CUDA 13)
#   --build-arg ORT_GPU_VERSION=...   the onnxruntime-gpu release installed in the GPU image
#   --build-arg PIP_INDEX_URL=...     a package index mirror
#   --build-arg PIP_CERT=/run/secrets/pip_cert --secret id=pip_cert,src=corp-ca.pem
#                                     a CA bundle for that index; the bundle is mounted as a build
#                                     secret, so it is never stored in a layer
ARG BASE_IMAGE=python:3.11-slim
ARG GPU_BASE_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04

# --- GPU image: build with --target gpu. BuildKit builds only the stages a target needs, so the default
# (CPU) build never pulls the CUDA base.

FROM ${GPU_BASE_IMAGE} AS gpu-builder

ARG ORT_GPU_VERSION=1.31.1
ARG PIP_INDEX_URL=""
ARG PIP_CERT=""
ENV PIP_INDEX_URL=${PIP_INDEX_URL} \
    PIP_CERT=${PIP_CERT} \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The CUDA images carry no Python: the distribution's python3 (3.12 on Ubuntu 24.04) with venv support.
# Versions come from the base image's release, which is pinned by its tag.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY core/ core/
COPY service/ service/
COPY training/ training/
# The `gpu` extra (onnxruntime-gpu), pinned to a release built for the base image's CUDA major.
RUN --mount=type=secret,id=pip_cert \
    pip install --no-cache-dir "/src[gpu]" "onnxruntime-gpu==${ORT_GPU_VERSION}"


FROM ${GPU_BASE_IMAGE} AS gpu

# Only the interpreter the venv links to; no compilers, no pip outside the venv.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 dlserve \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin dlserve

COPY --from=gpu-builder /opt/venv /opt/venv
COPY models/ /app/models/

# DLSERVE_PROVIDERS=auto: CUDA when onnxruntime obtains it (the provider is logged at start and reported per
# model by /v1/models), else CPU with a warning; set DLSERVE_PROVIDERS=cuda to refuse to start without CUDA.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DLSERVE_HOST=0.0.0.0 \
    DLSERVE_PORT=8000 \
    DLSERVE_MODEL_DIR=/app/models \
    DLSERVE_PROVIDERS=auto

WORKDIR /app
USER 10001:10001
EXPOSE 8000
# The Open Inference Protocol over gRPC (DLSERVE_GRPC_PORT; 0 turns it off).
EXPOSE 8001

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:' + os.environ.get('DLSERVE_PORT', '8000') + '/readyz', timeout=4)"]

CMD ["dlserve", "serve"]


# --- CPU image: the default target (the last stage).

FROM ${BASE_IMAGE} AS builder

ARG PIP_INDEX_URL=""
ARG PIP_CERT=""
# pip ignores these variables while they are empty.
ENV PIP_INDEX_URL=${PIP_INDEX_URL} \
    PIP_CERT=${PIP_CERT} \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY core/ core/
COPY service/ service/
COPY training/ training/
# A regular (non-editable) install of the project with the `cpu` extra only: onnxruntime, no torch.
# The `training` package is installed too, being part of the distribution, but without the `train`
# extra it cannot import torch, and the `dlserve` CLI leaves its commands out.
# Versions come from the requirement ranges in pyproject.toml. The project is named by its absolute
# path: hadolint treats "/src[cpu]" as a local project, but misreads ".[cpu]" as an unpinned package
# name (DL3013), so no ignore comment is needed.
RUN --mount=type=secret,id=pip_cert \
    pip install --no-cache-dir "/src[cpu]"


FROM ${BASE_IMAGE} AS runtime

RUN groupadd --system --gid 10001 dlserve \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin dlserve

COPY --from=builder /opt/venv /opt/venv
# Owned by root and read-only for the server: it only reads the model repository. Mount a volume on
# /app/models (read-only) to serve other models without rebuilding.
COPY models/ /app/models/

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DLSERVE_HOST=0.0.0.0 \
    DLSERVE_PORT=8000 \
    DLSERVE_MODEL_DIR=/app/models

WORKDIR /app
USER 10001:10001
EXPOSE 8000
# The Open Inference Protocol over gRPC (DLSERVE_GRPC_PORT; 0 turns it off).
EXPOSE 8001

# Readiness, not just liveness: healthy once the models are loaded (GET /readyz answers 200, 503 before).
# The slim image has no curl, so Python's urllib asks; an HTTP error or no answer exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:' + os.environ.get('DLSERVE_PORT', '8000') + '/readyz', timeout=4)"]

CMD ["dlserve", "serve"]
