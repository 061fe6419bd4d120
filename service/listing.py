"""`dlserve models`: load the repository once and print each model's status, provider and metrics."""

from __future__ import annotations

import json
from pathlib import Path

from service.repository import ModelRepository
from service.routers.models import model_info
from service.settings import Settings


def print_models(model_dir: str | None = None, as_json: bool = False) -> None:
    settings = Settings(**({"model_dir": Path(model_dir)} if model_dir else {}))
    repository = ModelRepository(settings)
    repository.load_all()
    infos = [model_info(e) for e in repository.entries.values()]
    if as_json:
        print(json.dumps([i.model_dump() for i in infos], indent=2))
        return
    print(f"{'NAME':24} {'VER':>3}  {'TASK':9} {'STATUS':7} {'PROVIDER':22} METRICS")
    for i in infos:
        metrics = ", ".join(f"{k}={v}" for k, v in i.metrics.items())
        print(f"{i.name:24} {i.version or '-':>3}  {i.task or '-':9} {i.status:7} {i.provider or '-':22} {metrics}")
        if i.reason:
            print(f"{'':24}      reason: {i.reason}")
