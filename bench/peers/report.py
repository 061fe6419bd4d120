"""Markdown tables of the side-by-side benchmark: each server's throughput as a ratio to dlserve's (batching on,
one process) at every concurrency, its CPU milliseconds per request, its latency; a server that could not
install, start or answer is a row with its error."""

from __future__ import annotations

import math
import statistics


def round_ratios(row: dict, base: dict) -> list[float]:
    """The ratio within each round. A round measures every server within seconds of the others, so its ratio
    keeps little of the machine's drift, which moved whole rounds by up to 2x; ratios of medians taken from
    different rounds keep all of it."""
    pairs = zip(row.get("rps_rounds", [row["rps"]]), base.get("rps_rounds", [base["rps"]]), strict=True)
    return [a / b for a, b in pairs if b and not (math.isnan(a) or math.isnan(b))]


def _ratio(row: dict, base: dict | None) -> str:
    ratios = [] if base is None else round_ratios(row, base)
    if not ratios:
        return f"n/a ({row['rps']:.0f}/s)"
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}, " if len(ratios) > 1 else ""
    return f"**{statistics.median(ratios):.2f}x** ({spread}{row['rps']:.0f}/s)"


def _ms(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "/").split())


def ratio_table(rows: dict[str, list[dict]], failed: dict[str, str], baseline: str, title: str) -> list[str]:
    """rows: name -> one row per concurrency (the same concurrencies for every server). Ratios to `baseline`'s row
    at the same concurrency; `failed`: name -> error, listed after the measured servers."""
    concurrencies = [r["concurrency"] for r in next(iter(rows.values()), [])]
    base = {r["concurrency"]: r for r in rows.get(baseline, [])}
    last = concurrencies[-1] if concurrencies else None
    head = (
        [f"{title}: server"]
        + [f"c={c} vs base" for c in concurrencies]
        + [f"CPU ms/request c={c}" for c in concurrencies]
        + ([f"c={last} p50 / p99 ms"] if concurrencies else [])
        + ["errors"]
    )
    caption = (
        f"{title}: throughput as a ratio to {baseline} (base) at the same concurrency, the median of the rounds'"
        " ratios with their range and the median round's req/s in brackets; CPU ms per request over the server's"
        " process tree; errors: non-200 answers and failed requests"
    )
    lines = [caption, "", "| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for name, per_c in rows.items():
        by_c = {r["concurrency"]: r for r in per_c}
        cells = [_cell(name)]
        cells += [_ratio(by_c[c], base.get(c)) for c in concurrencies]
        cells += [_ms(by_c[c].get("cpu_ms_per_request", float("nan"))) for c in concurrencies]
        if concurrencies:
            cells.append(f"{_ms(by_c[last]['p50_ms'], 1)} / {_ms(by_c[last]['p99_ms'], 1)}")
        bad = sum(r.get("errors", 0) + sum(n for s, n in r.get("status", {}).items() if s != "200") for r in per_c)
        cells.append(str(bad))
        lines.append("| " + " | ".join(cells) + " |")
    width = len(head) - 1
    for name, error in failed.items():
        lines.append(f"| {_cell(name)} | failed: {_cell(error)} |" + " |" * (width - 1))
    return lines
