"""Any Pillow mode to the colour space a model was trained in: luminance, or RGB."""

from __future__ import annotations

import numpy as np
from PIL import Image


def to_grayscale(img: Image.Image) -> np.ndarray:
    """Any mode (1, L, P, RGB, RGBA, LA, CMYK, I;16, I, F) -> (H, W) float32 luminance in [0, 1].

    Transparent pixels are composited onto a background that contrasts with the opaque ink, so strokes
    drawn on a transparent canvas stay visible whatever their colour.
    """
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        x = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            return (x / 65535.0).astype(np.float32)
        lo, hi = float(x.min()), float(x.max())
        return ((x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)).astype(np.float32)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        alpha = rgba[..., 3]
        opaque = alpha > 0.5
        ink_is_dark = bool(opaque.any()) and float(lum[opaque].mean()) < 0.5
        background = 1.0 if ink_is_dark else 0.0
        return (lum * alpha + background * (1.0 - alpha)).astype(np.float32)
    return np.asarray(img if mode == "L" else img.convert("L"), dtype=np.float32) / 255.0


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
