"""A picture grid of test photos, each titled with what the exported model said about it (for the README)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402


def write_grid(path: Path, photos: Sequence[Path | Image.Image], captions: list[str], columns: int = 4) -> None:
    rows = (len(photos) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, photo, caption in zip(axes.ravel(), photos, captions, strict=False):
        if isinstance(photo, Image.Image):
            ax.imshow(photo.convert("RGB"), interpolation="nearest")  # tiny photos: show their pixels
        else:
            with Image.open(photo) as img:
                ax.imshow(img.convert("RGB"))
        ax.set_title("\n".join(textwrap.wrap(caption, 32)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
