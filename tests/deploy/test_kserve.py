"""deploy/kserve: the InferenceService (the dlserve image as a custom predictor) in its CPU and GPU overlays,
rendered by a real kustomize (tests/deploy/manifests.py) and parsed by KServe's own SDK: every field built into
the `kserve` package's model classes (V1beta1InferenceService down to the Kubernetes client's V1Container) and
serialized back unchanged (tests/deploy/kserve_parse.py, in a process of its own); the ConfigMap against the
Kubernetes schemas, strictly. Then the wiring no schema sees: probes on the server's real v2 health paths, the
HTTP and gRPC ports equal to the settings, both ports served (raw deployment), autoscaling, resources, settings
the server accepts, the GPU request."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
from manifests import configmap_settings, render

from service.app import create_app
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = REPO / "deploy" / "kserve" / "overlays"
PARSER = Path(__file__).with_name("kserve_parse.py")


def kserve_parse(documents: list[dict]) -> list[dict]:
    done = subprocess.run([sys.executable, str(PARSER)], input=json.dumps(documents), capture_output=True, text=True,
                          timeout=120, cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module", params=["cpu", "gpu"])
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[str, dict]]:
    docs = render(OVERLAYS / request.param)
    by_kind = {doc["kind"]: doc for doc in docs}
    assert sorted(by_kind) == ["ConfigMap", "InferenceService"] and len(docs) == 2, [d["kind"] for d in docs]
    return request.param, by_kind


def test_the_kserve_sdk_parses_the_inference_service(rendered) -> None:
    _, docs = rendered
    service = docs["InferenceService"]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    (parsed,) = kserve_parse([service])
    assert parsed["errors"] == [] and parsed["class"] == "V1beta1InferenceService"
    assert parsed["roundtrip"] == service  # nothing the classes do not know was dropped


def test_the_parse_rejects_a_broken_inference_service(rendered) -> None:
    """Guards the check above: a misspelt field, a wrong type and a missing required field each fail."""
    _, docs = rendered
    broken = [copy.deepcopy(docs["InferenceService"]) for _ in range(3)]
    broken[0]["spec"]["predictor"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/x"
    broken[1]["spec"]["predictor"]["minReplicas"] = "two"
    del broken[2]["spec"]["predictor"]["containers"][0]["name"]
    results = kserve_parse(broken)
    assert "httpGet.paht: V1HTTPGetAction has no such field" in results[0]["errors"][0]
    assert results[1]["errors"] == ["InferenceService.spec.predictor.minReplicas: expected int, got str 'two'"]
    assert "V1Container" in results[2]["errors"][0] and "name" in results[2]["errors"][0]


@pytest.mark.parametrize("version", [kubernetes_validate.latest_version(), "1.30.0"])
def test_the_config_map_matches_the_kubernetes_schemas(rendered, version: str) -> None:
    _, docs = rendered
    kubernetes_validate.validate(docs["ConfigMap"], version, strict=True)


def _predictor(docs: dict[str, dict]) -> tuple[dict, dict]:
    predictor = docs["InferenceService"]["spec"]["predictor"]
    (container,) = predictor["containers"]
    return predictor, container


def test_ports_and_probes_are_the_servers(rendered, tmp_path: Path) -> None:
    _, docs = rendered
    predictor, container = _predictor(docs)
    config = docs["ConfigMap"]["data"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # KServe's names: http1 for REST, h2c for gRPC; the numbers are the server's own settings.
    assert ports == {"http1": int(config["DLSERVE_PORT"]), "h2c": int(config["DLSERVE_GRPC_PORT"])}
    annotations = docs["InferenceService"]["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"  # Knative would serve one port
    paths = set(create_app(Settings(model_dir=tmp_path)).openapi()["paths"])
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], live["path"]) == ("/v2/health/ready", "/v2/health/live") and {
        ready["path"],
        live["path"],
    } <= paths
    assert ready["port"] == live["port"] == ports["http1"]
    assert predictor["annotations"]["prometheus.io/port"] == str(ports["http1"]) and "/metrics" in paths
    assert container["envFrom"] == [{"configMapRef": {"name": docs["ConfigMap"]["metadata"]["name"]}}]


def test_settings_are_ones_the_server_accepts(rendered, monkeypatch) -> None:
    overlay, docs = rendered
    settings = configmap_settings(docs["ConfigMap"]["data"], monkeypatch)
    assert settings.providers == {"cpu": "cpu", "gpu": "cuda"}[overlay] and settings.grpc_port != settings.port
    predictor, _ = _predictor(docs)
    assert predictor["terminationGracePeriodSeconds"] > settings.shutdown_delay_s + settings.shutdown_grace_s


def test_autoscaling_resources_and_gpu_request(rendered) -> None:
    overlay, docs = rendered
    predictor, container = _predictor(docs)
    assert docs["InferenceService"]["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "hpa"
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("cpu", 70)
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
    assert predictor["securityContext"]["runAsNonRoot"] is True and predictor["securityContext"]["runAsUser"] == 10001
    if overlay == "gpu":
        assert resources["limits"]["nvidia.com/gpu"] == "1" and container["image"] == "dlserve:gpu"
        assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 4)
        assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu"
    else:
        assert "nvidia.com/gpu" not in resources["limits"] and container["image"] == "dlserve:latest"
        assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 10)
