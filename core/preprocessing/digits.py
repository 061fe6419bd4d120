"""The MNIST recipe applied to real photos and drawings of a digit.

LeCun et al. built MNIST by fitting each digit's bounding box into 20x20 (keeping aspect ratio, with
anti-aliasing) and placing it in 28x28 so that its centre of mass is at the centre. Users send anything:
any size, dark ink on white paper or light on dark, off-centre. We detect the polarity, then repeat the recipe.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from core.errors import InputError

INK_THRESHOLD = 0.2  # fraction of the ink contrast that counts as ink when finding the bounding box
MIN_CONTRAST = 0.1  # below this the image is blank
# Stroke width over the box's longer side: about 0.13 for MNIST digits (5th percentile 0.10). A pen line on a
# large photo is far thinner and would fade to a faint trace at 20x20, so such strokes are widened to MNIST's.
MNIST_STROKE, THIN_STROKE = 0.13, 0.07


def median(x: np.ndarray) -> float:
    """np.median(x), bit for bit, without its generic-reduction overhead (costly next to a 28x28 image)."""
    flat = x.ravel()
    lo, hi = (flat.size - 1) // 2, flat.size // 2
    part = np.partition(flat, [lo, hi])
    return float(part[hi] if lo == hi else (part[lo] + part[hi]) / part.dtype.type(2))


def border_of(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])


def light_ink_on_dark(gray: np.ndarray) -> np.ndarray:
    """Make ink bright on a dark background, as MNIST is: invert when the border is light."""
    return 1.0 - gray if median(border_of(gray)) > 0.5 else gray


def paper_level(x: np.ndarray) -> float:
    """The background's brightness (ink is bright): the image's median, unless the digit fills the frame and
    ink is the majority; then the border, which is still mostly paper, says where the paper is."""
    return min(median(x), median(border_of(x)))


def stroke_width(ink: np.ndarray) -> float:
    """Mean width of the strokes of a boolean ink mask, in pixels: area over half the outline's length."""
    h, w = ink.shape
    p = np.zeros((h + 2, w + 2), bool)  # np.pad(ink, 1), without its generic machinery
    p[1:-1, 1:-1] = ink
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    outline = int((ink & ~inner).sum())
    return float(ink.sum()) / max(outline / 2, 1.0)


def widen_thin_strokes(x: np.ndarray) -> np.ndarray:
    """Thicken strokes much thinner than MNIST's (relative to the digit's size) with a max filter."""
    side = max(x.shape)
    width = stroke_width(x > 0.5)
    if width / side >= THIN_STROKE:
        return x
    k = 2 * int(round((MNIST_STROKE * side - width) / 2)) + 1
    padded = np.pad(x, k // 2)  # room for the widened strokes at the box's edges
    return np.asarray(Image.fromarray(padded, mode="F").filter(ImageFilter.MaxFilter(k)), dtype=np.float32)


def mnist_digit(gray: np.ndarray, name: str, size: int = 28, fit: int = 20) -> np.ndarray:
    """(H, W) luminance in [0, 1] -> (size, size) float32 in [0, 1], MNIST-style; raises on a blank image."""
    x = light_ink_on_dark(gray.astype(np.float32))
    background = paper_level(x)
    x = np.maximum(x - background, 0.0)  # np.clip(x - background, 0, None): the same, at half the cost
    peak = float(x.max())
    if peak < MIN_CONTRAST:
        raise InputError(f"{name}: the image is blank (no ink found); send a picture of one handwritten digit")
    x /= peak
    rows, cols = np.nonzero(x > INK_THRESHOLD)
    x = x[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]  # bounding box of the ink
    x = widen_thin_strokes(x)
    h, w = x.shape
    scale = fit / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    box = np.asarray(Image.fromarray(x, mode="F").resize((nw, nh), Image.Resampling.LANCZOS), dtype=np.float32)
    box = np.minimum(np.maximum(box, 0.0), 1.0)  # np.clip(box, 0, 1)
    # Place the box so that its centre of mass lands on the centre of the canvas.
    total = float(box.sum())
    cy = float(box.sum(axis=1) @ np.arange(nh, dtype=np.float32)) / total
    cx = float(box.sum(axis=0) @ np.arange(nw, dtype=np.float32)) / total
    top = min(max(round(size / 2 - cy), 0), size - nh)
    left = min(max(round(size / 2 - cx), 0), size - nw)
    out = np.zeros((size, size), np.float32)
    out[top : top + nh, left : left + nw] = box
    return out
