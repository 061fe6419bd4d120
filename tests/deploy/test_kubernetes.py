"""deploy/k8s: both kustomize overlays, rendered by a real kustomize and validated against the Kubernetes schemas.

Rendering: `kubectl kustomize` (kustomize is built into kubectl), or a standalone `kustomize`; a missing tool fails
the test (tests/deploy/manifests.py). Validation: kubernetes-validate (PyPI), which carries the OpenAPI-derived
JSON schemas of each Kubernetes release and checks offline, strictly (unknown fields are errors). Then the wiring
a schema cannot see: probes on the server's real health paths and port, selectors that match the pods, the HPA's
target, settings that the server accepts, the GPU request.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from manifests import configmap_settings, render

from service.app import create_app
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = REPO / "deploy" / "k8s" / "overlays"
# The newest schemas kubernetes-validate carries, and an older release still in wide use.
KUBERNETES_VERSIONS = (kubernetes_validate.latest_version(), "1.30.0")
KINDS = {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}


@pytest.fixture(scope="module", params=["cpu", "gpu"])
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[str, dict]]:
    docs = render(OVERLAYS / request.param)
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs) and set(by_kind) == KINDS, f"{request.param}: {[d['kind'] for d in docs]}"
    return request.param, by_kind


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_the_kubernetes_schemas(rendered, version: str) -> None:
    _, docs = rendered
    for kind, doc in docs.items():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(
                f"{kind} {doc['metadata']['name']} is invalid for Kubernetes {version}: {e.message} at {e.path}"
            )


def test_validator_rejects_a_broken_manifest(rendered) -> None:
    """Guards the check above: a misspelt field and a wrong type must both fail."""
    _, docs = rendered
    deployment = yaml.safe_load(yaml.safe_dump(docs["Deployment"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    hpa = yaml.safe_load(yaml.safe_dump(docs["HorizontalPodAutoscaler"]))
    hpa["spec"]["minReplicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, KUBERNETES_VERSIONS[0], strict=True)


def _container(docs: dict[str, dict]) -> dict:
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def test_probes_use_the_servers_health_paths_and_port(rendered, tmp_path: Path) -> None:
    _, docs = rendered
    container = _container(docs)
    paths = set(create_app(Settings(model_dir=tmp_path)).openapi()["paths"])
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], live["path"]) == ("/v2/health/ready", "/v2/health/live")
    assert {ready["path"], live["path"]} <= paths
    http, grpc = container["ports"]
    assert (http["name"], grpc["name"]) == ("http", "grpc")
    assert ready["port"] == live["port"] == http["name"]
    config = docs["ConfigMap"]["data"]
    assert int(config["DLSERVE_PORT"]) == http["containerPort"]
    assert int(config["DLSERVE_GRPC_PORT"]) == grpc["containerPort"]
    annotations = docs["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(http["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics" and "/metrics" in paths
    assert [p["targetPort"] for p in docs["Service"]["spec"]["ports"]] == ["http", "grpc"]


def test_selectors_and_targets_match_the_pods(rendered) -> None:
    _, docs = rendered
    deployment = docs["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert docs["Service"]["spec"]["selector"].items() <= pod_labels.items()
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    target = docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    env_from = _container(docs)["envFrom"]
    assert env_from == [{"configMapRef": {"name": docs["ConfigMap"]["metadata"]["name"]}}]


def test_settings_are_ones_the_server_accepts(rendered, monkeypatch) -> None:
    overlay, docs = rendered
    settings = configmap_settings(docs["ConfigMap"]["data"], monkeypatch)
    assert settings.providers == {"cpu": "cpu", "gpu": "cuda"}[overlay]
    grace = docs["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > settings.shutdown_delay_s + settings.shutdown_grace_s, "Kubernetes would kill a draining pod"


def test_resources_and_gpu_request(rendered) -> None:
    overlay, docs = rendered
    container = _container(docs)
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
    security = docs["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    if overlay == "gpu":
        assert resources["limits"]["nvidia.com/gpu"] == 1 and container["image"] == "dlserve:gpu"
        assert docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 1
    else:
        assert "nvidia.com/gpu" not in resources["limits"] and container["image"] == "dlserve:latest"
