"""Build InferenceService documents into the KServe SDK's own model classes (`kserve.V1beta1InferenceService`),
strictly, and serialize them back. Run as a program, in a process of its own (tests/deploy/test_kserve.py):
importing `kserve` registers its copy of the `inference.*` protobuf messages, which collides with tritonclient's
copy (imported by the service's gRPC server and the gRPC tests) in a process's descriptor pool.

    python tests/deploy/kserve_parse.py < documents.json   # a JSON list of documents

prints a JSON list with, per document, {"errors": [...], "roundtrip": <the object serialized back>}. Each field
is built with the type the classes declare (`openapi_types`: KServe's classes, and the Kubernetes client's for
the core types such as V1Container that KServe's refer to): a field no class declares, a value of the wrong JSON
type, or a missing required field (the classes' own checks) is an error. The KServe classes themselves ignore an
unknown field, so the round trip is compared too: equal to the input, nothing was lost or changed.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import kserve
import kubernetes.client

PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "date": (str,),
    "datetime": (str,),
}


def model_class(name: str) -> type:
    for module in (kserve.models, kubernetes.client.models):
        if hasattr(module, name):
            return getattr(module, name)
    raise TypeError(f"no SDK class {name}")


LIST = re.compile(r"(?:list|List)\[(.*)\]$")  # KServe's classes spell list[X] and dict(K, V); the Kubernetes
DICT = re.compile(r"(?:dict\(|Dict\[)[^,]*, (.*)[)\]]$")  # client's List[X], Dict[K, V] and Optional[X]


def build(data: Any, kind: str, path: str, errors: list[str]) -> Any:
    """`data` as an instance of the SDK type `kind` (a class name, list, dict or primitive); errors appended."""
    if kind.startswith("Optional["):
        return build(data, kind[9:-1], path, errors)
    if m := LIST.match(kind):
        if not isinstance(data, list):
            errors.append(f"{path}: expected a list, got {type(data).__name__}")
            return data
        return [build(x, m.group(1), f"{path}[{i}]", errors) for i, x in enumerate(data)]
    if m := DICT.match(kind):
        if not isinstance(data, dict):
            errors.append(f"{path}: expected a mapping, got {type(data).__name__}")
            return data
        return {k: build(v, m.group(1), f"{path}.{k}", errors) for k, v in data.items()}
    if kind == "object":  # IntOrString and free-form fields
        return data
    if kind in PRIMITIVES:
        if not isinstance(data, PRIMITIVES[kind]) or (kind != "bool" and isinstance(data, bool)):
            errors.append(f"{path}: expected {kind}, got {type(data).__name__} {data!r}")
        return data
    return build_model(data, kind, path, errors)


def build_model(data: Any, kind: str, path: str, errors: list[str]) -> Any:
    cls = model_class(kind)
    if not isinstance(data, dict):
        errors.append(f"{path}: expected a {kind} mapping, got {type(data).__name__}")
        return None
    known = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    fields = {}
    for key, value in data.items():
        if key not in known:
            errors.append(f"{path}.{key}: {kind} has no such field")
            continue
        fields[known[key]] = build(value, cls.openapi_types[known[key]], f"{path}.{key}", errors)
    try:
        return cls(**fields)
    except (ValueError, TypeError) as e:  # the classes' own validation, e.g. a required field left out
        errors.append(f"{path}: {kind}: {' '.join(str(e).split())}")
        return None


def parse(document: dict) -> dict:
    errors: list[str] = []
    service = build(document, "V1beta1InferenceService", document.get("kind", "document"), errors)
    roundtrip = kserve.ApiClient().sanitize_for_serialization(service) if service is not None else None
    return {"errors": errors, "roundtrip": roundtrip, "class": type(service).__name__}


if __name__ == "__main__":
    json.dump([parse(doc) for doc in json.load(sys.stdin)], sys.stdout)
