"""The general image recipe (core/manifest.py `ImageRecipe`): any decoded image -> one classifier input row.

The order is torchvision's (Resize, CenterCrop, ToTensor, Normalize), which is how most classifiers trained
elsewhere were fed, so a model packaged with its training recipe sees what it saw in training.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from core.manifest import ImageRecipe
from core.preprocessing.color import to_grayscale, to_rgb

RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


def resized_size(recipe: ImageRecipe, width: int, height: int) -> tuple[int, int]:
    """(width, height) after the recipe's resize step."""
    if recipe.resize is not None:
        return recipe.resize
    n = recipe.resize_shorter or 0
    if width <= height:  # torchvision truncates the longer side the same way
        return n, max(n, int(n * height / width))
    return max(n, int(n * width / height)), n


def image_tensor(recipe: ImageRecipe, img: Image.Image) -> np.ndarray:
    """One row: (C, H, W) or (H, W, C) float32, as the recipe says."""
    img = ImageOps.exif_transpose(img) or img  # a phone photo's pixels are stored sideways
    # mode F keeps a 16-bit source's depth through the resize
    gray = recipe.channels == "gray"
    img = Image.fromarray(to_grayscale(img) * np.float32(255)) if gray else to_rgb(img)
    size = resized_size(recipe, *img.size)
    if img.size != size:
        img = img.resize(size, RESAMPLING[recipe.interpolation])
    if recipe.crop is not None:
        (cw, ch), (w, h) = recipe.crop, size
        left, top = (w - cw) // 2, (h - ch) // 2
        img = img.crop((left, top, left + cw, top + ch))
    x = np.asarray(img, dtype=np.float32)
    x = x[..., None] if x.ndim == 2 else x  # (H, W, C)
    if recipe.channels == "bgr":
        x = x[..., ::-1]
    x = (x * np.float32(recipe.scale) - np.asarray(recipe.mean, np.float32)) / np.asarray(recipe.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1) if recipe.layout == "nchw" else x)
