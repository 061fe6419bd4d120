"""int8 against float over HTTP: which versions are paired, the repositories each server gets, and the table of
rates (items per request times requests per second) with their ratio."""

from __future__ import annotations

import json

from bench import quantized
from bench.quantized import pairs, table


def test_each_model_pairs_its_newest_int8_version_with_the_float_one_it_came_from(tmp_path):
    def version(name: str, v: int, source: int | None = None) -> None:
        (tmp_path / name / str(v)).mkdir(parents=True)
        manifest = {"version": v, **({"quantization": {"from_version": source}} if source else {})}
        (tmp_path / name / str(v) / "manifest.json").write_text(json.dumps(manifest))

    for v, source in ((1, None), (2, 1), (3, None), (10, 3)):
        version("gru-en-de", v, source)
    version("charlstm-shakespeare", 1)  # no int8 version: not measured
    assert pairs(tmp_path) == {"gru-en-de": (3, 10)}


def test_repository_holds_the_versions_and_the_digit_classifier_as_hard_links(tmp_path):
    root = quantized.repository(tmp_path / "float", {"charlstm-shakespeare": 1})
    assert sorted(str(p.relative_to(root)) for p in root.glob("*/*")) == ["charlstm-shakespeare/1", "lenet5-mnist/1"]
    copied = root / "lenet5-mnist" / "1" / "model.onnx"
    assert copied.stat().st_nlink >= 2 and copied.samefile(
        quantized.REPO / "models" / "lenet5-mnist" / "1" / "model.onnx"
    )


def test_the_table_gives_rates_in_the_workload_unit_and_their_ratio():
    def row(rps: float, cpu: float) -> list[dict]:
        return [{"concurrency": 16, "rps": rps, "cpu_ms_per_request": cpu}]

    results = {
        "versions": {"charlstm-shakespeare": (1, 2)},
        "charlstm-shakespeare": {
            "unit": "tokens/s",
            "items_per_request": 200,
            "float": row(10, 90.0),
            "int8": row(15, 60.0),
        },
    }
    _, _, line = table(results)
    assert line == "| charlstm-shakespeare v1 vs v2 | c=16, tokens/s | 2000 (90.00) | 3000 (60.00) | 1.50x |"


def test_an_only_run_replaces_its_models_and_keeps_the_others():
    previous = {"seconds": 5, "versions": {"gru-en-de": [2, 3], "gru-en-fr": [1, 2]}, "gru-en-de": {"old": 1},
                "gru-en-fr": {"old": 2}}  # fmt: skip
    new = {"seconds": 5, "versions": {"gru-en-fr": (2, 3)}, "gru-en-fr": {"new": 3}}
    assert quantized.merged(previous, new) == {
        "seconds": 5, "versions": {"gru-en-de": [2, 3], "gru-en-fr": (2, 3)}, "gru-en-de": {"old": 1},
        "gru-en-fr": {"new": 3},
    }  # fmt: skip
