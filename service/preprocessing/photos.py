"""Photos for the captioner: any Pillow mode -> RGB, squashed to the training size, centre-cropped, normalised.

Flickr8k's stored photos were squashed to a square (aspect ratio not kept), so serving squashes too: a photo
looks to the model as the training photos did.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def to_rgb(img: Image.Image) -> Image.Image:
    """Any mode (1, L, P, LA, RGBA, CMYK, YCbCr, I;16, I, F) -> RGB; transparency composited onto white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        x = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            x = x / 65535.0
        else:
            lo, hi = float(x.min()), float(x.max())
            x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
        return Image.fromarray(np.round(x * 255).astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


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
