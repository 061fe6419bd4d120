"""A classifier's side of packaging: its labels file, its image recipe completed from the graph, and the checks
that the recipe produces exactly what the graph takes and that there is one label per output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from core.manifest import ImageRecipe
from core.packaging.graph import Graph, PackageError

LAYOUTS = {"nchw": "channels first, (C, H, W)", "nhwc": "channels last, (H, W, C)"}


def read_labels(path: Path) -> list[str]:
    """One label per line, in output order; trailing blank lines are ignored, blank lines inside are refused."""
    if not path.is_file():
        raise PackageError(f"labels file {path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise PackageError(f"labels file {path} is not UTF-8 text; write one label per line") from None
    while lines and not lines[-1].strip():
        lines.pop()
    return checked_labels([line.strip() for line in lines], f"labels file {path}")


def checked_labels(labels: list[str], where: str = "labels") -> list[str]:
    if not labels:
        raise PackageError(f"{where} holds no labels; write one label per line, in the order of the outputs")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise PackageError(f"{where}: label {i + 1} is empty; write one label per line")
    return list(labels)


def image_input(graph: Graph) -> dict[str, Any]:
    """The graph's one input, checked to be a batch of float32 images: (batch, C, H, W) or (batch, H, W, C)."""
    if len(graph.inputs) != 1:
        names = [i["name"] for i in graph.inputs]
        raise PackageError(
            f"a classifier takes one input, a batch of images; {graph.path.name} takes {len(names)}: {names} "
            "(serve it with `dlserve package tensor`)"
        )
    spec = graph.inputs[0]
    name, shape = spec["name"], spec["shape"]
    if spec["dtype"] != "float32":
        raise PackageError(f"input {name!r} is {spec['dtype']}; an image recipe gives float32")
    if len(shape) != 4:
        raise PackageError(
            f"input {name!r} has shape {shape} (rank {len(shape)}); an image classifier takes rank 4: "
            "(batch, C, H, W) or (batch, H, W, C)"
        )
    if shape[0] not in (-1, 1):
        raise PackageError(
            f"input {name!r} takes a fixed batch of {shape[0]} images ({shape}); a classifier scores any number: "
            "export the graph with a dynamic batch axis (or a batch of 1)"
        )
    return spec


def check_channels(spec: dict[str, Any], layout: str, channels: str) -> None:
    """The graph's channel axis, under the recipe's layout, holds the recipe's channels; else what to change."""
    shape, n = spec["shape"], 1 if channels == "gray" else 3
    axis, other = (1, "nhwc") if layout == "nchw" else (3, "nchw")
    takes = shape[axis]
    if takes in (-1, n):
        return
    if shape[4 - axis] == n:
        hint = f"the graph takes {other.upper()} ({LAYOUTS[other]}): use --layout {other}"
    elif takes in (1, 3):
        hint = f"it takes {takes} channel(s) there: use --channels {'gray' if takes == 1 else 'rgb or bgr'}"
    else:
        hint = f"it takes {takes} channels there; a recipe gives 1 (gray) or 3 (rgb, bgr)"
    raise PackageError(
        f"the recipe gives {n} channel(s) ({channels}) at axis {axis} ({layout}, {LAYOUTS[layout]}) but input "
        f"{spec['name']!r} takes {shape}: {hint}"
    )


def image_recipe(fields: dict[str, Any], spec: dict[str, Any]) -> ImageRecipe:
    """The recipe from the given fields, checked against the graph's input; with no resize, the graph's own
    height and width."""
    fields = {"kind": "image", **{k: v for k, v in fields.items() if v is not None}}
    layout = fields.get("layout", "nchw")
    check_channels(spec, layout, fields.get("channels", "rgb"))
    if fields.get("resize") is None and fields.get("resize_shorter") is None:
        if fields.get("crop") is not None:
            raise PackageError(
                "a crop is taken from the resized image: give a resize (--resize WxH) or a shorter side "
                "(--resize-shorter N) with the crop"
            )
        h, w = spec["shape"][2:4] if layout == "nchw" else spec["shape"][1:3]
        if min(h, w) < 1:
            raise PackageError(
                f"input {spec['name']!r} takes {spec['shape']}, of any height and width: give a resize "
                "(--resize WxH), or a shorter side with a crop (--resize-shorter N --crop WxH)"
            )
        fields["resize"] = (w, h)
    try:
        recipe = ImageRecipe.model_validate(fields)
    except ValidationError as e:
        err = e.errors()[0]
        where = "".join(f"{x}: " for x in err["loc"])  # a field's own constraint; none for the cross-field checks
        raise PackageError(
            f"the preprocessing recipe is invalid: {where}{str(err['msg']).removeprefix('Value error, ')}"
        ) from None
    h, w = spec["shape"][2:4] if layout == "nchw" else spec["shape"][1:3]
    (rw, rh) = recipe.size
    if any(d not in (-1, r) for d, r in ((w, rw), (h, rh))):
        wants = " x ".join(str(d) if d > 0 else "any" for d in (w, h))
        raise PackageError(
            f"input {spec['name']!r} takes {spec['shape']}, images of width x height {wants}, but the recipe gives "
            f"{rw} x {rh} (resize, then crop): make its output that size"
        )
    return recipe


def check_scores(graph: Graph, labels: list[str], reference: dict[str, Any]) -> None:
    """The first output is (batch, classes) floats, with one label per class."""
    spec = graph.outputs[0]
    name, shape = spec["name"], spec["shape"]
    if len(shape) != 2 or np.dtype(spec["dtype"]).kind != "f":
        raise PackageError(
            f"output {name!r} is {spec['dtype']} {shape}; a classifier's first output is float scores (batch, classes)"
        )
    width = np.asarray(reference["outputs"][name]["data"]).shape[1]
    if width != len(labels):
        raise PackageError(
            f"there are {len(labels)} labels but output {name!r} scores {width} classes (shape {shape}): "
            "give one label per class, in the order of the outputs"
        )
