"""The per-request and per-batch metrics land in the app's own registry under the names the dashboards query."""

from __future__ import annotations

from service.metrics import Metrics


def sample(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_request_done_counts_by_status_and_observes_latency_per_model_and_endpoint():
    m = Metrics()
    for status, seconds in ((200, 0.004), (200, 0.003), (429, 0.0001)):
        m.request_done("lenet5-mnist", "/v1/classify", status, seconds)
    m.request_done("lenet5-mnist", "/inference.GRPCInferenceService/ModelInfer", "OK", 0.002)
    assert sample(m, "dlserve_requests_total", model="lenet5-mnist", endpoint="/v1/classify", status="200") == 2
    assert sample(m, "dlserve_requests_total", model="lenet5-mnist", endpoint="/v1/classify", status="429") == 1
    grpc = {"model": "lenet5-mnist", "endpoint": "/inference.GRPCInferenceService/ModelInfer", "status": "OK"}
    assert sample(m, "dlserve_requests_total", **grpc) == 1
    labels = {"model": "lenet5-mnist", "endpoint": "/v1/classify"}
    assert sample(m, "dlserve_request_seconds_count", **labels) == 3
    assert abs(sample(m, "dlserve_request_seconds_sum", **labels) - 0.0071) < 1e-9
    assert sample(m, "dlserve_request_seconds_bucket", **labels, le="0.0005") == 1


def test_batch_and_step_observers_record_rows_queue_and_compute_time():
    m = Metrics()
    m.observe_batch("a")(12, 0.001, 0.0004)
    m.observe_step("b")(3, 0.002)
    assert sample(m, "dlserve_batch_size_sum", model="a") == 12
    assert sample(m, "dlserve_queue_seconds_count", model="a") == 1
    assert sample(m, "dlserve_compute_seconds_sum", model="b") == 0.002
    assert sample(m, "dlserve_batch_size_bucket", model="b", le="4.0") == 1
