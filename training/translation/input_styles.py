"""test2016 as people type it (in capitals, in title case, in lower case without punctuation, as paragraphs),
and a translator's BLEU on each with the service's input handling (sentence splitting and case,
core.preprocessing.sentences) and with each text read whole, as written.

    python -m training.translation.input_styles models/gru-en-de/2 [--count 1000] [--beam-size 5] [--style S]

prints a Markdown table (docs/models.md quotes it). Capitals are scored against the references in capitals,
paragraphs against the references joined the same way, the other styles against the references as they are.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path

from sacrebleu.metrics import BLEU

from training.data import multi30k
from training.paths import default_data_dir
from training.translation.onnx_translator import OnnxTranslator

# style -> what the docs' table calls it
STYLES = {
    "as-written": "as written (one sentence, sentence case)",
    "capitals": "IN CAPITALS",
    "title": "In Title Case (Every Word Capitalised)",
    "lower": "in lower case without punctuation",
    "paragraphs": "paragraphs of 4 consecutive sentences",
}
PARAGRAPH = 4


def styled(texts: list[str], style: str) -> list[str]:
    """`texts` in `style`: one text each, or one per `PARAGRAPH` of them for paragraphs."""
    if style == "as-written":
        return list(texts)
    if style == "capitals":
        return [t.upper() for t in texts]
    if style == "title":
        return [t.title() for t in texts]
    if style == "lower":
        return [re.sub(r"\s+", " ", re.sub(r"[^\w\s'-]", " ", t.lower())).strip() for t in texts]
    if style == "paragraphs":
        return [" ".join(texts[k : k + PARAGRAPH]) for k in range(0, len(texts), PARAGRAPH)]
    raise ValueError(f"unknown style {style!r}; styles: {', '.join(STYLES)}")


def references(refs: list[str], style: str) -> list[str]:
    if style == "capitals":
        return [t.upper() for t in refs]
    return styled(refs, "paragraphs") if style == "paragraphs" else refs


def bleu(translator: OnnxTranslator, src: list[str], ref: list[str], beam: int, alpha: float) -> float:
    hyps: list[str] = []
    for k in range(0, len(src), 16):
        hyps += translator.translate(src[k : k + 16], beam, alpha)
    return round(BLEU().corpus_score(hyps, [ref]).score, 2)


def table(folder: Path, data_dir: Path, count: int, beam: int, styles: Sequence[str] = tuple(STYLES)) -> str:
    manifest = json.loads((folder / "manifest.json").read_text())
    langs = manifest["languages"]
    alpha = float(manifest.get("decoding", {}).get("alpha", 1.0))

    src, ref = (side[:count] for side in multi30k.load_pairs(data_dir, "test2016", langs["source"], langs["target"]))
    handled = OnnxTranslator(folder, langs["source"])
    whole = OnnxTranslator(folder, langs["source"], prepare=False)
    lines = ["| source style | BLEU with the input handling | read whole, as written |", "| --- | ---: | ---: |"]
    for style in styles:
        title, (s, r) = STYLES[style], (styled(src, style), references(ref, style))
        with_it = bleu(handled, s, r, beam, alpha)
        # test2016 as written: the handling changes no sentence (tested), so it is the same decode
        without = with_it if style == "as-written" else bleu(whole, s, r, beam, alpha)
        lines.append(f"| {title} | {with_it:.2f} | {without:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    prog = "python -m training.translation.input_styles"
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="a translator's version folder (models/gru-en-de/<v>)")
    p.add_argument("--count", type=int, default=1000, help="the first N test2016 sentences")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--data-dir", type=Path, default=None, help="default: $DLSERVE_DATA or ../shared/data")
    p.add_argument("--style", action="append", choices=list(STYLES), help="only these rows (repeatable)")
    args = p.parse_args(argv)
    if not (args.folder / "manifest.json").is_file():
        p.error(f"not a model folder (no manifest.json): {args.folder}")
    print(
        table(args.folder, args.data_dir or default_data_dir(), args.count, args.beam_size, args.style or list(STYLES))
    )


if __name__ == "__main__":
    main()
