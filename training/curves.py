"""Learning curves of a trained model: `curves.json` and `curves.png` in its model folder.

Every numeric per-epoch value of the training history becomes a series; losses (names ending in `loss`,
`bce` or `ce`) are drawn in one panel, task metrics (error, accuracy, BLEU, ...) in another, one row per
training stage. `python -m training.curves models/<name>/<version>` rebuilds them from a manifest.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SKIP = {"epoch", "seconds", "cpu_seconds"}  # times are not learning curves


def is_loss(key: str) -> bool:
    return key.endswith(("loss", "bce", "_ce"))


def curves(history: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in history[0] if k not in SKIP and isinstance(history[0][k], int | float)] if history else []
    return {
        "epoch": [int(row["epoch"]) for row in history],
        "losses": {k: [float(row[k]) for row in history] for k in keys if is_loss(k)},
        "metrics": {k: [float(row[k]) for row in history] for k in keys if not is_loss(k)},
    }


def stages_of(manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    training = manifest.get("training", {})
    if "stages" in training:
        return {name: stage["history"] for name, stage in training["stages"].items()}
    return {"training": training.get("history", [])}


def write_curves(folder: Path, stages: dict[str, list[dict[str, Any]]], title: str) -> dict[str, Any]:
    data = {"model": title, "stages": {name: curves(h) for name, h in stages.items() if h}}
    if not data["stages"]:
        raise ValueError(f"{title}: no training history to draw")
    (folder / "curves.json").write_text(json.dumps(data, indent=1) + "\n")
    rows = len(data["stages"])
    fig, axes = plt.subplots(rows, 2, figsize=(10, 3.2 * rows), squeeze=False)
    for (name, c), (ax_loss, ax_metric) in zip(data["stages"].items(), axes, strict=True):
        for panel, ax, label in (("losses", ax_loss, "loss"), ("metrics", ax_metric, "metric")):
            for key, values in c[panel].items():
                ax.plot(c["epoch"], values, marker=".", label=key)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.set_title(f"{name}: {panel}")
            ax.grid(alpha=0.3)
            if c[panel]:
                ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(folder / "curves.png", dpi=80)
    plt.close(fig)
    return data


def main(argv: list[str]) -> None:
    for arg in argv:
        folder = Path(arg)
        manifest = json.loads((folder / "manifest.json").read_text())
        write_curves(folder, stages_of(manifest), f"{manifest['name']} v{manifest['version']}")
        print(f"wrote {folder / 'curves.json'} and {folder / 'curves.png'}")


if __name__ == "__main__":
    main(sys.argv[1:])
