"""The A/B table: each checkout's throughput and CPU per request, and its ratio to this checkout, beside the gap
between two identical servers (the machine's noise)."""

from __future__ import annotations

from bench.ab import table


def row(c: int, rps: float, cpu: float) -> dict:
    return {"concurrency": c, "rps": rps, "cpu_ms_per_request": cpu}


def test_the_table_gives_each_base_against_this_and_the_identical_pair():
    results = {
        "bases": ["/tmp/old"],
        "classify": {
            "this": [row(1, 1000, 0.7), row(64, 2000, 0.5)],
            "this again": [row(1, 1010, 0.71), row(64, 1980, 0.5)],
            "base 1 (old)": [row(1, 800, 0.9), row(64, 1000, 1.0)],
        },
    }
    header, rule, c1, c64 = table(results)
    assert header.count("|") == 7 and "base 1 (old) / this" in header and rule.count("---:") == 5
    assert c1 == "| classify c=1 | 1000 (0.700) | 1010 (0.710) | 800 (0.900) | 1.010 | 0.800 |"
    assert c64.endswith("| 0.990 | 0.500 |")
