"""`dlserve package classify|tensor MODEL.onnx ...`: an ONNX file trained anywhere -> a verified model folder
(core/packaging/). These flags are an interface scripts depend on: add to them, never rename one.

Bad input (a file that is not ONNX, a graph onnxruntime cannot load, labels that do not match the outputs, a
recipe that cannot produce the input, an existing version, an invalid name) is one line on stderr naming the
problem, exit status 2, and nothing written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from service.settings import DEFAULT_MODEL_DIR

USAGE_ERROR = 2  # argparse's status for bad flags; bad input to package is the same kind of mistake


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def width_height(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH, e.g. 224x224")
    return positive(w), positive(h)


def side_or_size(text: str) -> tuple[int, int]:
    """N (a square) or WxH."""
    return width_height(text) if "x" in text.lower() else (positive(text), positive(text))


def floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not comma-separated numbers, e.g. 0.485,0.456,0.406") from None


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.onnx", type=Path, help="the ONNX graph (self-contained: weights inside)")
    p.add_argument("--name", required=True, help="the model's name in the repository and its URLs")
    p.add_argument("--version", type=positive, metavar="N", help="the version to write (default: the next one)")
    p.add_argument(
        "--model-dir", type=Path, metavar="DIR", help="model repository (DLSERVE_MODEL_DIR, default ./models)"
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    package = sub.add_parser(
        "package",
        help="turn an ONNX file into a model the server loads (checked, with its manifest)",
        description="Package an ONNX graph trained anywhere as a model folder <model-dir>/<name>/<version>/: the "
        "graph, its sha256 and a manifest with a reference input/output pair, checked as the server checks it.",
    )
    kinds = package.add_subparsers(dest="kind", required=True, metavar="KIND")
    classify = kinds.add_parser(
        "classify",
        help="an image classifier: served on /v1/classify and /v2, with its image recipe",
        description="An image classifier. Every upload is converted to --channels, resized (--resize: squash to "
        "WxH; --resize-shorter: the shorter side to N, aspect kept), centre-cropped (--crop), multiplied by "
        "--scale, normalised with --mean and --std per channel and laid out as --layout; the graph must take "
        "exactly that, and score one class per label.",
    )
    add_common(classify)
    classify.add_argument(
        "--labels", required=True, type=Path, metavar="FILE", help="one label per line, in output order"
    )
    resize = classify.add_mutually_exclusive_group()
    resize.add_argument("--resize-shorter", type=positive, metavar="N", help="the shorter side to N (needs --crop)")
    resize.add_argument("--resize", type=width_height, metavar="WxH", help="squash to WxH (default: the graph's size)")
    classify.add_argument("--crop", type=side_or_size, metavar="N|WxH", help="centre crop after the resize")
    classify.add_argument("--scale", type=float, metavar="F", help="pixel values 0..255 times F (default 1/255)")
    classify.add_argument("--mean", type=floats, metavar="a,b,c", help="subtracted per channel after the scale (0)")
    classify.add_argument("--std", type=floats, metavar="a,b,c", help="then divided by, per channel (1)")
    classify.add_argument("--channels", choices=["rgb", "bgr", "gray"], help="colour order the graph takes (rgb)")
    classify.add_argument("--layout", choices=["nchw", "nhwc"], help="channels first or last (nchw)")
    tensor = kinds.add_parser(
        "tensor",
        help="any graph: served on /v2 only, named tensors in and out",
        description="Any graph, served on /v2 only. Requests share a call (dynamic batching on the first axis) "
        "when that axis is dynamic in every input and output and rows do not affect each other.",
    )
    add_common(tensor)


def run(args: argparse.Namespace) -> None:
    from core.packaging import PackageError, package_classifier, package_tensor  # onnxruntime: only when used

    model_dir = args.model_dir or Path(os.environ.get("DLSERVE_MODEL_DIR") or DEFAULT_MODEL_DIR)
    try:
        if args.kind == "classify":
            keys = ("resize", "resize_shorter", "crop", "scale", "mean", "std", "channels", "layout")
            recipe = {k: getattr(args, k) for k in keys}
            packaged = package_classifier(args.model, args.name, args.labels, recipe, model_dir, args.version)
        else:
            packaged = package_tensor(args.model, args.name, model_dir, args.version)
    except PackageError as e:
        print(f"dlserve package {args.kind}: {e}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    print(f"wrote {packaged.folder}")
    print(f"batching: {packaged.batching}")
