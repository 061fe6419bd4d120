"""The Grafana dashboard's queries, as Prometheus receives them, and the series the service exports."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from service.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "dlserve.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
# What Grafana substitutes before sending a query; the values Prometheus then sees.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$model": ".*"}


def exported_series() -> dict[str, set[str]]:
    """Series name -> label names, for every metric the service exports (histograms add `le` to _bucket)."""
    series: dict[str, set[str]] = {}
    for metric in vars(Metrics()).values():
        if isinstance(metric, MetricWrapperBase):  # prometheus-client keeps name, type and labels in these fields
            labels = set(metric._labelnames)
            for suffix in SUFFIXES[metric._type]:
                series[metric._name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]


def prometheus_query(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr
