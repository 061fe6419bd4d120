"""Decoding uploads safely: empty, non-image, truncated and decompression-bomb inputs give 4xx errors."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image
from tests_support import png_header_only

from service.errors import InvalidInput, PayloadTooLarge
from service.preprocessing import images
from service.preprocessing.images import open_image


def png_bytes(size=(28, 28), mode="L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


def test_valid_png_opens():
    img = open_image(png_bytes((30, 20)), "ok.png", 10_000)
    assert img.size == (30, 20)


def test_empty_upload():
    with pytest.raises(InvalidInput, match=r"empty.png: empty upload \(0 bytes\)"):
        open_image(b"", "empty.png", 10_000)


def test_text_named_png():
    with pytest.raises(InvalidInput, match="notes.png: not a recognised image format"):
        open_image(b"hello, I am text\n" * 10, "notes.png", 10_000)


def test_truncated_png():
    noisy = Image.frombytes("RGB", (200, 200), bytes(range(256)) * 468 + bytes(192))
    buf = io.BytesIO()
    noisy.save(buf, format="PNG")
    data = buf.getvalue()
    with pytest.raises(InvalidInput, match="cut.png: image data is truncated or corrupt"):
        open_image(data[: len(data) // 2], "cut.png", 1_000_000)


def test_truncated_jpeg():
    noisy = Image.frombytes("RGB", (128, 128), bytes(range(256)) * 192)
    buf = io.BytesIO()
    noisy.save(buf, format="JPEG")
    with pytest.raises(InvalidInput, match="cut.jpg: image (header|data) is truncated or corrupt"):
        open_image(buf.getvalue()[:300], "cut.jpg", 1_000_000)


def test_decompression_bomb_refused_from_header():
    with pytest.raises(PayloadTooLarge, match="bomb.png: image is 30000x30000 = 900000000 pixels"):
        open_image(png_header_only(30000, 30000), "bomb.png", 40_000_000)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("L", (16, 16), c) for c in (10, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    img = open_image(buf.getvalue(), "anim.gif", 10_000)
    assert img.convert("L").getpixel((0, 0)) == 10


def _png(size: tuple[int, int], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(("size", "count", "threaded"), [((28, 28), 4, False), ((200, 150), 1, True)])
def test_decode_images_inline_for_small_uploads_threaded_otherwise(monkeypatch, size, count, threaded):
    calls = []

    async def recording(fn, *args):
        calls.append(fn)
        return fn(*args)

    monkeypatch.setattr(images, "run_in_threadpool", recording)
    uploads = [(f"{i}.png", _png(size, i)) for i in range(count)]

    def preprocess(img, name):
        return np.asarray(img.resize((8, 8)), np.float32)

    got = asyncio.run(images.decode_images(uploads, 10**6, preprocess))
    assert calls == ([images.decode_all] if threaded else [])
    np.testing.assert_array_equal(got, images.decode_all(uploads, 10**6, preprocess))


def test_decode_images_checks_limits_before_decoding_inline():
    with pytest.raises(PayloadTooLarge, match="30000x30000"):
        asyncio.run(images.decode_images([("bomb.png", png_header_only(30000, 30000))], 40_000_000, None))
    with pytest.raises(InvalidInput, match="empty upload"):
        asyncio.run(images.decode_images([("a.png", _png((28, 28), 0)), ("b.png", b"")], 10**6, None))
