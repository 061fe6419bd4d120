# dlserve model server: CPU image (onnxruntime, no torch).
#
#   docker build -t dlserve:latest .
#   docker run --rm -p 127.0.0.1:8000:8000 dlserve:latest
#
# Optional build settings (builder stage only; none of them reaches the final image):
#   --build-arg BASE_IMAGE=...        another Python >= 3.11 base; both stages use it, because the copied
#                                     venv links to the base image's interpreter
#   --build-arg PIP_INDEX_URL=...     a package index mirror
#   --build-arg PIP_CERT=/run/secrets/pip_cert --secret id=pip_cert,src=corp-ca.pem
#                                     a CA bundle for that index; the bundle is mounted as a build
#                                     secret, so it is never stored in a layer
ARG BASE_IMAGE=python:3.11-slim

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
# Owned by root and read-only for the server: it only reads the model repository.
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

# Readiness, not just liveness: healthy once the models are loaded (GET /readyz answers 200, 503 before).
# The slim image has no curl, so Python's urllib asks; an HTTP error or no answer exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:' + os.environ.get('DLSERVE_PORT', '8000') + '/readyz', timeout=4)"]

CMD ["dlserve", "serve"]
