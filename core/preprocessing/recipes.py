"""Apply a manifest's preprocessing recipe to one decoded image: the one place each kind is implemented."""

from __future__ import annotations

from functools import singledispatch
from typing import Any

import numpy as np
from PIL import Image
from pydantic import TypeAdapter

from core.manifest import ImageRecipe, MnistDigit, Photo, Preprocessing
from core.preprocessing.color import to_grayscale
from core.preprocessing.digits import mnist_digit
from core.preprocessing.images import image_tensor
from core.preprocessing.photos import photo_tensor

RECIPES: TypeAdapter[MnistDigit | Photo | ImageRecipe] = TypeAdapter(Preprocessing)


def parse(data: dict[str, Any]) -> MnistDigit | Photo | ImageRecipe:
    """A recipe as a manifest or a v2 model's metadata (`parameters.preprocessing`) spells it, by its `kind`."""
    return RECIPES.validate_python(data)


@singledispatch
def apply(recipe: object, image: Image.Image, name: str) -> np.ndarray:
    """One decoded image -> the float32 array the model takes for one row (no batch axis)."""
    raise TypeError(f"no preprocessing for {type(recipe).__name__}")


@apply.register
def _(recipe: MnistDigit, image: Image.Image, name: str) -> np.ndarray:
    digit = mnist_digit(to_grayscale(image), name, recipe.input_size, recipe.fit_size)
    return ((digit - recipe.mean) / recipe.std)[None]  # (1, size, size)


@apply.register
def _(recipe: Photo, image: Image.Image, name: str) -> np.ndarray:
    return photo_tensor(image, recipe.resize, recipe.crop, recipe.mean, recipe.std)  # (3, crop, crop)


@apply.register
def _(recipe: ImageRecipe, image: Image.Image, name: str) -> np.ndarray:
    return image_tensor(recipe, image)  # (C, H, W) or (H, W, C)
