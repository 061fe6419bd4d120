"""Photos for the captioner: any Pillow mode -> RGB, squashed to the training size, centre-cropped, normalised.

Flickr8k's stored photos were squashed to a square (aspect ratio not kept), so serving squashes too: a photo
looks to the model as the training photos did.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.preprocessing.color import to_rgb


def photo_tensor(img: Image.Image, resize: int, crop: int, mean: list[float], std: list[float]) -> np.ndarray:
    """(3, crop, crop) float32: RGB, bicubic resize to resize x resize, centre crop, (x/255 - mean) / std."""
    rgb = to_rgb(img)
    if rgb.size != (resize, resize):
        rgb = rgb.resize((resize, resize), Image.Resampling.BICUBIC)
    x = np.asarray(rgb, dtype=np.float32) / 255.0  # (H, W, 3)
    top = (resize - crop) // 2
    x = x[top : top + crop, top : top + crop]
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))
