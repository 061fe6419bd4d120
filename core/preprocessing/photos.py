"""Photos for the captioner: its manifest's `"kind": "photo"` recipe, spelled in the general image recipe.

Flickr8k's stored photos were squashed to a square (aspect ratio not kept), so serving squashes too (bicubic),
then centre-crops: a photo looks to the model as the training photos did. The pixels are prepared by
core/preprocessing/images.py, the one implementation of every photo recipe.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from core.manifest import ImageRecipe
from core.preprocessing.images import image_tensor


@lru_cache(maxsize=32)
def photo_recipe(resize: int, crop: int, mean: tuple[float, ...], std: tuple[float, ...]) -> ImageRecipe:
    square, centre = (resize, resize), (crop, crop)
    return ImageRecipe(
        kind="image", resize=square, crop=centre, interpolation="bicubic", mean=list(mean), std=list(std)
    )


def photo_tensor(img: Image.Image, resize: int, crop: int, mean: list[float], std: list[float]) -> np.ndarray:
    """(3, crop, crop) float32: RGB, bicubic resize to resize x resize, centre crop, (x/255 - mean) / std."""
    return image_tensor(photo_recipe(resize, crop, tuple(mean), tuple(std)), img)
