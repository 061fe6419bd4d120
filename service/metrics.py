"""Prometheus metrics (prometheus-client), one registry per app so that test apps never collide."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "dlserve_requests",
            "HTTP requests by model, endpoint and status",
            ["model", "endpoint", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "dlserve_request_seconds", "request latency, end to end", ["model", "endpoint"], buckets=LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.queue_time = Histogram(
            "dlserve_queue_seconds", "time a batch's oldest item waited before compute", ["model"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.compute_time = Histogram(
            "dlserve_compute_seconds", "model call time per batch or decoder step", ["model"], buckets=LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.batch_size = Histogram(
            "dlserve_batch_size", "rows per model call (images, sequences, beams)", ["model"], buckets=BATCH_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "dlserve_time_to_first_token_seconds", "generation: request start to first token", ["model"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.tokens = Counter("dlserve_generated_tokens", "tokens generated", ["model"], registry=r)
        self.tokens_per_second = Histogram(
            "dlserve_tokens_per_second", "generation speed per request", ["model"],
            buckets=(10, 50, 100, 200, 500, 1000, 2000, 5000, 10000), registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge("dlserve_queue_depth", "requests queued or running", ["model"], registry=r)
        self.load_seconds = Gauge(
            "dlserve_model_load_seconds", "load + check + warm-up time", ["model", "version", "provider"], registry=r
        )
        self.model_status = Gauge(
            "dlserve_model_status", "1 for the model's current status", ["model", "version", "provider", "status"],
            registry=r,
        )  # fmt: skip

        # The labelled children of the per-request metrics, looked up once per (model, endpoint, status):
        # labels() takes a lock and builds a key on every call, on the path of every request.
        self._request_children: dict[tuple[str, str, int | str], tuple[Any, Any]] = {}

    def request_done(self, model: str, endpoint: str, status: int | str, seconds: float) -> None:
        """Count one answered request (status: HTTP's number or gRPC's code name) and observe its latency."""
        key = (model, endpoint, status)
        children = self._request_children.get(key)
        if children is None:
            children = self.requests.labels(model, endpoint, str(status)), self.latency.labels(model, endpoint)
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_batch(self, model: str):
        batch_size, queue_time = self.batch_size.labels(model), self.queue_time.labels(model)
        compute_time = self.compute_time.labels(model)

        def observe(rows: int, queue_s: float, compute_s: float) -> None:
            batch_size.observe(rows)
            queue_time.observe(queue_s)
            compute_time.observe(compute_s)

        return observe

    def observe_step(self, model: str):
        batch_size, compute_time = self.batch_size.labels(model), self.compute_time.labels(model)

        def observe(rows: int, compute_s: float) -> None:
            batch_size.observe(rows)
            compute_time.observe(compute_s)

        return observe
