"""Safe image decoding with Pillow: size limits checked before pixels are allocated."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool

from service.errors import InvalidInput, PayloadTooLarge

# Our own limit is enforced below from the header; Pillow's global guard would otherwise warn or raise first.
Image.MAX_IMAGE_PIXELS = None
# Uploads this small (a few MNIST digits) are decoded on the event loop: the work (~0.1 ms an image) costs
# less than handing it to a worker thread and back. Both limits hold before any pixel is decoded.
INLINE_BYTES = 64 * 1024
INLINE_PIXELS = 64 * 64 * 4


def open_image(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Decode an uploaded image (first frame of an animation) or raise a 4xx naming the file."""
    return load_image(open_header(data, name, max_pixels), name)


def open_header(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Read an upload's header (no pixels yet) and check its size, or raise a 4xx naming the file."""
    if not data:
        raise InvalidInput(f"{name}: empty upload (0 bytes); send a PNG, JPEG, GIF, BMP, TIFF or WebP image")
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InvalidInput(
            f"{name}: not a recognised image format; send a PNG, JPEG, GIF, BMP, TIFF or WebP image"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InvalidInput(f"{name}: image header is truncated or corrupt ({e})") from None
    w, h = img.size
    if w * h > max_pixels:  # checked from the header, before decoding allocates anything
        raise PayloadTooLarge(f"{name}: image is {w}x{h} = {w * h} pixels; the limit is {max_pixels} pixels")
    if w < 1 or h < 1:
        raise InvalidInput(f"{name}: image has no pixels ({w}x{h})")
    return img


def load_image(img: Image.Image, name: str) -> Image.Image:
    """Decode the pixels of an opened image (the first frame of an animation)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.seek(0)
            img.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise InvalidInput(f"{name}: image data is truncated or corrupt ({e})") from None
    return img


def decode_all(
    images: list[tuple[str, bytes]], max_pixels: int, preprocess: Callable[[Image.Image, str], np.ndarray]
) -> np.ndarray:
    """(N, ...): every uploaded (name, bytes) decoded and preprocessed, or a 4xx naming the first bad one."""
    return np.stack([preprocess(open_image(data, name, max_pixels), name) for name, data in images])


async def decode_images(
    images: list[tuple[str, bytes]], max_pixels: int, preprocess: Callable[[Image.Image, str], np.ndarray]
) -> np.ndarray:
    """decode_all, on the event loop for small uploads and in a worker thread otherwise."""
    if sum(len(data) for _, data in images) <= INLINE_BYTES:
        opened = [(open_header(data, name, max_pixels), name) for name, data in images]
        if sum(img.size[0] * img.size[1] for img, _ in opened) <= INLINE_PIXELS:
            return np.stack([preprocess(load_image(img, name), name) for img, name in opened])
    return await run_in_threadpool(decode_all, images, max_pixels, preprocess)
