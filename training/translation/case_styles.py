"""test2016 as people type it (in capitals, in title case, in lower case without punctuation), and a translator's
BLEU on each style with the service's case handling (core.preprocessing.casing) and without it.

    python -m training.translation.case_styles models/gru-en-de/2 [--count 1000] [--beam-size 5]

prints a Markdown table (docs/models.md quotes it). Capitals are scored against the references in capitals,
the other styles against the references as they are.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections.abc import Sequence
from pathlib import Path

from sacrebleu.metrics import BLEU

from training.paths import default_data_dir
from training.translation.onnx_translator import OnnxTranslator

# style -> what the docs' table calls it
STYLES = {
    "as-written": "as written (sentence case)",
    "capitals": "IN CAPITALS",
    "title": "In Title Case (Every Word Capitalised)",
    "lower": "in lower case without punctuation",
}


def styled(text: str, style: str) -> str:
    if style == "as-written":
        return text
    if style == "capitals":
        return text.upper()
    if style == "title":
        return text.title()
    if style == "lower":
        return re.sub(r"\s+", " ", re.sub(r"[^\w\s'-]", " ", text.lower())).strip()
    raise ValueError(f"unknown style {style!r}; styles: {', '.join(STYLES)}")


def bleu(translator: OnnxTranslator, src: list[str], ref: list[str], beam: int, alpha: float) -> float:
    hyps: list[str] = []
    for k in range(0, len(src), 64):
        hyps += translator.translate(src[k : k + 64], beam, alpha)
    return round(BLEU().corpus_score(hyps, [ref]).score, 2)


def table(folder: Path, data_dir: Path, count: int, beam: int) -> str:
    manifest = json.loads((folder / "manifest.json").read_text())
    langs = manifest["languages"]
    alpha = float(manifest.get("decoding", {}).get("alpha", 1.0))

    def read(lang: str) -> list[str]:
        with gzip.open(data_dir / "multi30k" / f"test_2016_flickr.{lang}.gz", "rt", encoding="utf-8") as f:
            return f.read().splitlines()[:count]

    src, ref = read(langs["source"]), read(langs["target"])
    handled, raw = OnnxTranslator(folder, langs["source"]), OnnxTranslator(folder, langs["source"], recase=False)
    lines = ["| source style | BLEU with case handling | without |", "| --- | ---: | ---: |"]
    for style, title in STYLES.items():
        s = [styled(t, style) for t in src]
        r = [t.upper() for t in ref] if style == "capitals" else ref
        with_it = bleu(handled, s, r, beam, alpha)
        # sentence case and lower case never trigger it, so the figure without it is the same decode
        without = bleu(raw, s, r, beam, alpha) if style in ("capitals", "title") else with_it
        lines.append(f"| {title} | {with_it:.2f} | {without:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.translation.case_styles", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="a translator's version folder (models/gru-en-de/<v>)")
    p.add_argument("--count", type=int, default=1000, help="the first N test2016 sentences")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--data-dir", type=Path, default=None, help="default: $DLSERVE_DATA or ../shared/data")
    args = p.parse_args(argv)
    if not (args.folder / "manifest.json").is_file():
        p.error(f"not a model folder (no manifest.json): {args.folder}")
    print(table(args.folder, args.data_dir or default_data_dir(), args.count, args.beam_size))


if __name__ == "__main__":
    main()
