"""MNIST test digits as people send them (scanned, photographed, off-centre, frame-filling, thin, pencil), and a
digit model's accuracy on each style through the service's decoding and the model's own recipe.

    python -m training.digit_styles models/lenet5-mnist/4 models/lenet5-mnist/5 [--count 1000]

prints a Markdown table, one column per model folder (docs/models.md quotes it).
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from core.graph_specs import cpu_session
from core.preprocessing import recipes
from training.data import mnist
from training.paths import default_data_dir

# style -> what the docs' table calls it
STYLES = {
    "png": "MNIST as PNG",
    "scanned": "dark ink on light paper, 280 px (scanned)",
    "photo": "the same as JPEG, quality 70 (photographed)",
    "off-centre": "the same off-centre on a larger sheet, JPEG",
    "frame-filling": "frame-filling (strokes thick enough to close loops)",
    "frame-filling-light": "frame-filling, light ink on dark",
    "thin": "very thin strokes",
    "pencil": "low-contrast pencil",
}


def scanned(digit: np.ndarray, style: str) -> Image.Image:
    """An MNIST digit 10x larger (280 px), dark ink on light paper; for the frame-filling, thin and pencil
    styles tightly cropped to the ink's box (no margin at all), with its strokes or contrast changed."""
    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BICUBIC), np.float32) / 255
    if style in ("scanned", "photo", "off-centre"):
        return Image.fromarray(np.uint8((1 - big) * 255))
    ys, xs = np.nonzero(big > 0.3)
    ink = big[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    if style in ("frame-filling", "frame-filling-light"):
        ink = np.asarray(Image.fromarray(np.uint8(ink * 255)).filter(ImageFilter.MaxFilter(25)), np.float32) / 255
    elif style == "thin":
        ink = np.asarray(Image.fromarray(np.uint8((big > 0.8) * 255)).filter(ImageFilter.MinFilter(7)), np.float32)
        ink /= 255
    elif style == "pencil":  # grey graphite on off-white paper: a quarter of the full contrast
        return Image.fromarray(np.uint8(225 - ink * 60))
    elif style != "tight":
        raise ValueError(f"unknown style {style!r}; styles: {', '.join(STYLES)}, tight")
    if style == "frame-filling-light":
        return Image.fromarray(np.uint8(ink * 255))
    return Image.fromarray(np.uint8((1 - ink) * 255))


def upload(digit: np.ndarray, style: str) -> bytes:
    """The file a user would send of `digit` in `style` (PNG, or JPEG for the photographed styles)."""
    if style == "png":
        img = Image.fromarray(digit)
    elif style == "off-centre":
        img = Image.new("L", (640, 480), 255)
        img.paste(scanned(digit, style), (40, 150))
    else:
        img = scanned(digit, style)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=70) if style in ("photo", "off-centre") else img.save(buf, format="PNG")
    return buf.getvalue()


def served_rows(recipe: dict, uploads: Sequence[bytes]) -> np.ndarray:
    """(N, ...) float32: each upload decoded by Pillow and prepared by a manifest's `recipe` with the code the
    service runs on every upload (core.preprocessing.recipes.apply)."""
    parsed = recipes.parse(recipe)
    rows = [recipes.apply(parsed, Image.open(io.BytesIO(u)), f"#{i}") for i, u in enumerate(uploads)]
    return np.stack(rows).astype(np.float32)


def predicted(graph: Path, rows: np.ndarray) -> np.ndarray:
    """The class a classifier graph gives each of `rows` (its first output's argmax), 500 rows a call."""
    session = cpu_session(graph)
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: rows[i : i + 500]})[0].argmax(1) for i in range(0, len(rows), 500)])


def accuracy(folder: Path, uploads: Sequence[bytes], labels: np.ndarray) -> float:
    """The share of `uploads` the model in `folder` classifies as `labels`, through its served_rows."""
    rows = served_rows(json.loads((folder / "manifest.json").read_text())["preprocessing"], uploads)
    return float((predicted(folder / "model.onnx", rows) == labels).mean())


def table(folders: Sequence[Path], data_dir: Path, count: int) -> str:
    test = mnist.load_split(data_dir, "t10k")
    images, labels = test.images[:count], test.labels[:count]
    lines = [f"| style | {' | '.join('v' + f.name for f in folders)} |",
             f"| --- |{' ---: |' * len(folders)}"]  # fmt: skip
    for style, title in STYLES.items():
        uploads = [upload(d, style) for d in images]
        cells = [f"{accuracy(f, uploads, labels):.1%}" for f in folders]
        lines.append(f"| {title} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.digit_styles", description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path, help="model version folders (models/lenet5-mnist/<v>)")
    p.add_argument("--count", type=int, default=1000, help="the first N test digits")
    p.add_argument("--data-dir", type=Path, default=None, help="default: $DLSERVE_DATA or ../shared/data")
    args = p.parse_args(argv)
    missing = [str(f) for f in args.folders if not (f / "manifest.json").is_file()]
    if missing:
        p.error(f"not a model folder (no manifest.json): {', '.join(missing)}")
    print(table(args.folders, args.data_dir or default_data_dir(), args.count))


if __name__ == "__main__":
    main()
