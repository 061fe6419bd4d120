"""The MNIST recipe applied to real photos and drawings of a digit.

LeCun et al. built MNIST by fitting each digit's bounding box into 20x20 (keeping aspect ratio, with
anti-aliasing) and placing it in 28x28 so that its centre of mass is at the centre. Users send anything:
any size, dark ink on white paper or light on dark, off-centre. We detect the polarity, then repeat the recipe.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.errors import InputError

INK_THRESHOLD = 0.2  # fraction of the ink contrast that counts as ink when finding the bounding box
MIN_CONTRAST = 0.1  # below this the image is blank


def median(x: np.ndarray) -> float:
    """np.median(x), bit for bit, without its generic-reduction overhead (costly next to a 28x28 image)."""
    flat = x.ravel()
    lo, hi = (flat.size - 1) // 2, flat.size // 2
    part = np.partition(flat, [lo, hi])
    return float(part[hi] if lo == hi else (part[lo] + part[hi]) / part.dtype.type(2))


def light_ink_on_dark(gray: np.ndarray) -> np.ndarray:
    """Make ink bright on a dark background, as MNIST is: invert when the border is light."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 1.0 - gray if median(border) > 0.5 else gray


def mnist_digit(gray: np.ndarray, name: str, size: int = 28, fit: int = 20) -> np.ndarray:
    """(H, W) luminance in [0, 1] -> (size, size) float32 in [0, 1], MNIST-style; raises on a blank image."""
    x = light_ink_on_dark(gray.astype(np.float32))
    background = median(x)
    x = np.clip(x - background, 0.0, None)
    peak = float(x.max())
    if peak < MIN_CONTRAST:
        raise InputError(f"{name}: the image is blank (no ink found); send a picture of one handwritten digit")
    x /= peak
    rows, cols = np.nonzero(x > INK_THRESHOLD)
    x = x[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]  # bounding box of the ink
    h, w = x.shape
    scale = fit / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    box = np.asarray(Image.fromarray(x, mode="F").resize((nw, nh), Image.Resampling.LANCZOS), dtype=np.float32)
    box = np.clip(box, 0.0, 1.0)
    # Place the box so that its centre of mass lands on the centre of the canvas.
    total = float(box.sum())
    cy = float(box.sum(axis=1) @ np.arange(nh, dtype=np.float32)) / total
    cx = float(box.sum(axis=0) @ np.arange(nw, dtype=np.float32)) / total
    top = int(np.clip(round(size / 2 - cy), 0, size - nh))
    left = int(np.clip(round(size / 2 - cx), 0, size - nw))
    out = np.zeros((size, size), np.float32)
    out[top : top + nh, left : left + nw] = box
    return out
