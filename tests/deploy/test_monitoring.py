"""The monitoring files: Prometheus config (promtool), Grafana provisioning, and the dashboard's PromQL.

Every dashboard query must parse (promql-parser, the Prometheus parser's Rust port) and read only metrics and
labels that the service really exports (service/metrics.py). The container tests run these queries against a
real Prometheus scraping the real image (tests/deploy/test_container_image.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import promql_parser
import pytest
import yaml
from dashboards import DASHBOARD, MONITORING, dashboard_queries, exported_series, prometheus_query

from service.settings import PROBE_PATHS


def test_exported_series_include_the_documented_names() -> None:
    series = exported_series()
    assert series["dlserve_requests_total"] == {"model", "endpoint", "status"}
    assert series["dlserve_request_seconds_bucket"] == {"model", "endpoint", "le"}
    for name in ("dlserve_queue_seconds_sum", "dlserve_compute_seconds_count", "dlserve_batch_size_bucket"):
        assert name in series


@pytest.mark.parametrize(("panel", "expr"), dashboard_queries())
def test_dashboard_query_parses_and_reads_exported_series(panel: str, expr: str) -> None:
    query = prometheus_query(expr)
    assert "$" not in query, f"{panel}: an unknown Grafana variable in {expr}"
    promql_parser.parse(query)  # raises on a syntax error
    series = exported_series()
    names = set(re.findall(r"\bdlserve_\w+", query))
    assert names, f"{panel}: reads no dlserve metric"
    unknown = names - set(series)
    assert not unknown, f"{panel}: {sorted(unknown)} are not exported; exported: {sorted(series)}"
    labels = set().union(*(series[n] for n in names))
    used = {label.strip() for group in re.findall(r"\bby \(([^)]*)\)", query) for label in group.split(",")}
    used |= set(re.findall(r"[{,]\s*(\w+)\s*(?:=~|!~|!=|=)", query))
    assert used <= labels, f"{panel}: labels {sorted(used - labels)} do not exist on {sorted(names)}"


def test_dashboard_covers_the_serving_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "dlserve" and dashboard["templating"]["list"][0]["name"] == "model"
    by_title = {panel["title"]: " ".join(t["expr"] for t in panel["targets"]) for panel in dashboard["panels"]}
    assert "rate(dlserve_requests_total" in by_title["Request rate"]
    assert all(f"histogram_quantile({q}, " in by_title["Request latency percentiles"] for q in (0.5, 0.95, 0.99))
    assert "dlserve_queue_seconds" in by_title["Queue vs compute time"]
    assert "dlserve_compute_seconds" in by_title["Queue vs compute time"]
    assert "dlserve_batch_size" in by_title["Batch size"]
    # Errors: neither an HTTP 2xx nor a gRPC call's OK (its status label is the gRPC code's name).
    assert "sum by (status" in by_title["Errors by status"] and 'status!~"2..|OK"' in by_title["Errors by status"]
    # Panels sit on Grafana's 24-column grid without overlapping.
    cells = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    provisioning = MONITORING / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}, "every query should use the provisioned data source"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "dlserve.yml").read_text())["providers"]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"  # where compose mounts the dashboards folder


def test_prometheus_config_scrapes_the_compose_services() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and "/metrics" in PROBE_PATHS  # open even when keys are set
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets == ["dlserve:8000", "dlserve-gpu:8000"]


def test_promtool_accepts_the_prometheus_config() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: run `make system-deps` (apt-get install prometheus)", pytrace=False)
    result = subprocess.run(
        [promtool, "check", "config", str(MONITORING / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
