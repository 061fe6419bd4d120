"""Prometheus metrics (prometheus-client), one registry per app so that test apps never collide."""

from __future__ import annotations

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

    def observe_batch(self, model: str):
        def observe(rows: int, queue_s: float, compute_s: float) -> None:
            self.batch_size.labels(model).observe(rows)
            self.queue_time.labels(model).observe(queue_s)
            self.compute_time.labels(model).observe(compute_s)

        return observe

    def observe_step(self, model: str):
        def observe(rows: int, compute_s: float) -> None:
            self.batch_size.labels(model).observe(rows)
            self.compute_time.labels(model).observe(compute_s)

        return observe
