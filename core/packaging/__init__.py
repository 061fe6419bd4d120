"""`dlserve package`: an ONNX graph trained anywhere -> a model folder the server loads like its own.

Torch-free, so the service install can run it (service/package_command.py) and training's PyTorch helper
(training/package.py) can end with it. Each step checks what the server would refuse and says so first: the
file (graph.py), the recipe and labels of a classifier (images.py), and the folder, written all at once
(folders.py). Every problem is a PackageError whose message names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.manifest import ImageRecipe
from core.packaging.folders import version_folder, write_version
from core.packaging.graph import ROWS, Graph, PackageError, generated_inputs, open_graph, reference, row_difference
from core.packaging.images import check_scores, checked_labels, image_input, image_recipe, read_labels

__all__ = ["PackageError", "Packaged", "package_classifier", "package_tensor"]

GRAPH_FILE = "model.onnx"
BATCHED = {"max_batch_size": 64, "max_delay_ms": 2.0}
ALONE = {"max_batch_size": 1, "max_delay_ms": 0.0}


@dataclass(frozen=True)
class Packaged:
    folder: Path
    manifest: dict[str, Any]
    batching: str  # in words: whether and why requests share calls


def package_classifier(
    source: Path | str,
    name: str,
    labels: Path | str | list[str],
    recipe: ImageRecipe | dict[str, Any],
    model_dir: Path | str,
    version: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Packaged:
    """An image classifier: served on /v1/classify (and /v2) with `recipe` applied to every upload. `recipe`
    holds ImageRecipe fields; without a resize, the graph's fixed height and width are used."""
    dest = version_folder(Path(model_dir), name, version)
    labels = checked_labels(labels) if isinstance(labels, list) else read_labels(Path(labels))
    graph = open_graph(Path(source))
    spec = image_input(graph)
    fields = recipe.model_dump() if isinstance(recipe, ImageRecipe) else dict(recipe)
    image = image_recipe(fields, spec)
    rows = ROWS if spec["shape"][0] == -1 else 1
    feeds = generated_inputs([{**spec, "shape": [rows, *image.shape]}], graph.session)
    ref = reference(graph, feeds)
    check_scores(graph, labels, ref)
    if rows == 1:
        batching, words = ALONE, "none: the graph takes a fixed batch of 1, so each image runs on its own"
    elif (why := row_difference(graph, feeds, ref["atol"])) is not None:
        raise PackageError(
            f"the graph does not score each image on its own ({why}): was it exported in training mode? "
            "Export it after module.eval()"
        )
    else:
        batching = BATCHED
        words = f"dynamic: images of concurrent requests share a call, up to {BATCHED['max_batch_size']} per call"
    manifest = {
        **header(dest, "classify", graph),
        "preprocessing": image.model_dump(mode="json"),
        "labels": labels,
        "reference": ref,
        "batching": batching,
        **(extra or {}),
    }
    write_version(dest, graph.path, GRAPH_FILE, manifest)
    return Packaged(dest, manifest, words)


def package_tensor(
    source: Path | str,
    name: str,
    model_dir: Path | str,
    version: int | None = None,
    inputs: dict[str, np.ndarray] | None = None,
    extra: dict[str, Any] | None = None,
) -> Packaged:
    """Any graph, served on /v2 only. `inputs` is the reference input (default: a seeded one of every input)."""
    dest = version_folder(Path(model_dir), name, version)
    graph = open_graph(Path(source))
    if not graph.inputs:
        raise PackageError(f"{graph.path.name} takes no inputs: a v2 request has nothing to send it")
    feeds = inputs if inputs is not None else generated_inputs(graph.inputs, graph.session)
    ref = reference(graph, feeds)
    batching, words = tensor_batching(graph, feeds, ref["atol"])
    manifest = {**header(dest, "tensor", graph), "reference": ref, "batching": batching, **(extra or {})}
    write_version(dest, graph.path, GRAPH_FILE, manifest)
    return Packaged(dest, manifest, words)


def tensor_batching(graph: Graph, feeds: dict[str, np.ndarray], atol: float) -> tuple[dict[str, float], str]:
    """Batched on the first axis when it is dynamic in every input and output and rows do not interact."""
    if all(s["shape"][:1] == [1] for s in graph.inputs):
        return ALONE, "none: the graph takes a fixed batch of 1, so each request runs on its own"
    for kind, specs in (("input", graph.inputs), ("output", graph.outputs)):
        for spec in specs:
            shape = spec["shape"]
            if not shape or shape[0] != -1:
                first = f"a fixed first axis of {shape[0]}" if shape else "no first axis"
                return ALONE, f"none: {kind} {spec['name']!r} has {first} ({shape}), so requests cannot share a call"
    if len(next(iter(feeds.values()))) < 2:  # one row shows no interaction: the same rows twice still check sizes
        feeds = {k: np.concatenate([v, v]) for k, v in feeds.items()}
    why = row_difference(graph, feeds, atol)
    if why is not None:
        return ALONE, f"none: {why}, so requests cannot share a call"
    return BATCHED, f"dynamic on the first axis: requests share a call, up to {BATCHED['max_batch_size']} rows"


def header(dest: Path, task: str, graph: Graph) -> dict[str, Any]:
    packaged = {
        "source": graph.path.name,
        "by": f"dlserve package {task}",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return {
        "name": dest.parent.name,
        "version": int(dest.name),
        "task": task,
        "description": f"{graph.path.name}, packaged by dlserve package {task}",
        "graphs": {"model": graph.entry(GRAPH_FILE)},
        "packaged": packaged,
    }
