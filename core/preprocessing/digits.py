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
# A border with at least this share of each class (light and dark) may be a digit that fills its frame.
MIXED_BORDER = 0.1
# Regions are counted on the image scaled down to this longer side; smaller than MIN_REGION of it are specks.
POLARITY_SIDE, MIN_REGION = 32, 0.02


def median(x: np.ndarray) -> float:
    """np.median(x), bit for bit, without its generic-reduction overhead (costly next to a 28x28 image)."""
    flat = x.ravel()
    lo, hi = (flat.size - 1) // 2, flat.size // 2
    part = np.partition(flat, [lo, hi])
    return float(part[hi] if lo == hi else (part[lo] + part[hi]) / part.dtype.type(2))


def border_of(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])


def light_ink_on_dark(gray: np.ndarray) -> np.ndarray:
    """Make ink bright on a dark background, as MNIST is: invert when the paper is light. The paper is the
    border, unless the digit fills its frame (tightly cropped, thick strokes) and ink reaches the border too."""
    border = border_of(gray)
    if not flat(border):
        mid = (float(gray.min()) + float(gray.max())) / 2
        light = float((border > mid).mean())
        if MIXED_BORDER <= light <= 1 - MIXED_BORDER:
            paper_is_light = light_is_paper(gray, mid)
            if paper_is_light is not None:
                return 1.0 - gray if paper_is_light else gray
    return 1.0 - gray if median(border) > 0.5 else gray


def flat(border: np.ndarray) -> bool:
    """No ink on the border: its pixels differ by less than the least contrast that counts as ink (the common
    case, checked first because it is cheap)."""
    return float(border.max()) - float(border.min()) < MIN_CONTRAST


def light_is_paper(gray: np.ndarray, mid: float) -> bool | None:
    """For a digit that fills its frame: the ink is one stroke, where the paper falls apart into regions (the
    corners the stroke cuts off, the holes of its loops), so the class that forms more regions is the paper; on
    a tie, the class of most of the four corners. None when that is a tie too."""
    h, w = gray.shape
    scale = min(1.0, POLARITY_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(gray, mode="F").resize(size, Image.Resampling.BILINEAR)) if scale < 1 else gray
    light = small > mid
    min_size = max(1, int(MIN_REGION * light.size))
    n_light, n_dark = regions(light, min_size), regions(~light, min_size)
    if n_light != n_dark:
        return n_light > n_dark
    corners = int(light[0, 0]) + int(light[0, -1]) + int(light[-1, 0]) + int(light[-1, -1])
    return None if corners == 2 else corners > 2


def regions(mask: np.ndarray, min_size: int) -> int:
    """The number of 4-connected regions of a boolean mask with at least `min_size` pixels. Each pixel takes
    the smallest index among its neighbours' labels, then follows its label's label (pointer jumping), so a
    region settles in a few passes of whole-array operations."""
    h, w = mask.shape
    none = h * w  # the label of pixels outside the mask, larger than any index
    labels = np.where(mask, np.arange(h * w).reshape(h, w), none)
    while True:
        p = np.pad(labels, 1, constant_values=none)
        step = np.minimum.reduce([labels, p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
        chain = np.append(np.where(mask, step, none).ravel(), none)
        for _ in range(4):
            chain[:-1] = chain[chain[:-1]]
        step = chain[:-1].reshape(h, w)
        if np.array_equal(step, labels):
            break
        labels = step
    _, counts = np.unique(labels[mask], return_counts=True)
    return int((counts >= min_size).sum())


def paper_level(x: np.ndarray) -> float:
    """The background's brightness (ink is bright): the image's median, unless the digit fills the frame and
    ink is the majority; then the border, which is still mostly paper, says where the paper is; and when ink
    fills most of the border too, the median of the dark half of the image's range."""
    border = border_of(x)
    level = min(median(x), median(border))
    if flat(border):
        return level
    mid = (float(x.min()) + float(x.max())) / 2
    return level if level <= mid else median(x[x <= mid])


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
