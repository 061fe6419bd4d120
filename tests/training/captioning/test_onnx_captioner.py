"""The training side's captioner gives exactly the service runtime's captions, on the same exported folder:
the same photo preprocessing, the same beam search, the same words."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.manifest import Manifest
from service.runtimes.captioner import CaptionerRuntime
from training.captioning.onnx_captioner import OnnxCaptioner


def both(export) -> tuple[OnnxCaptioner, CaptionerRuntime]:
    runtime = CaptionerRuntime(Manifest.model_validate(export.manifest), export.folder, "cpu")
    return OnnxCaptioner(export.folder, export.manifest), runtime


def test_photos_are_prepared_as_the_server_prepares_uploads(captioner_export, tmp_path):
    captioner, runtime = both(captioner_export())
    rng = np.random.default_rng(3)
    images = {
        "rgb.jpg": Image.fromarray(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)),  # not square: squashed
        "grey.png": Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)),
        "rgba.png": Image.fromarray(rng.integers(0, 256, (50, 30, 4), dtype=np.uint8)),  # transparency onto white
    }
    paths = []
    for name, image in images.items():
        image.save(tmp_path / name)
        paths.append(tmp_path / name)
    got = captioner.photos(paths)
    assert got.shape == (3, 3, 32, 32) and got.dtype == np.float32
    for row, path in zip(got, paths, strict=True):
        with Image.open(path) as image:
            np.testing.assert_array_equal(row, runtime.preprocess(image, path.name))


@pytest.mark.parametrize("attention", ["soft", "none"])
def test_captions_are_the_service_runtimes(captioner_export, attention):
    captioner, runtime = both(captioner_export(attention))
    x = np.random.default_rng(4).standard_normal((9, 3, 32, 32)).astype(np.float32)
    for beam in (1, 3, 5):
        for alpha in (0.0, 0.5, 1.0):
            runtime.alpha = alpha
            expected = [r.best.text for r in runtime.caption(x, beam)]
            assert captioner.captions(x, beam, alpha) == expected, (beam, alpha)
    # Not an agreement on nothing: the captions have words, and the photos get different ones.
    assert all(len(c.split()) >= 2 for c in expected) and len(set(expected)) > 1


def test_defaults_come_from_the_manifest(captioner_export):
    export = captioner_export()
    export.manifest["decoding"] = {"beam_size": 3, "alpha": 0.5, "max_length": 3}
    captioner, runtime = both(export)
    assert (captioner.alpha, captioner.max_length, captioner.bos, captioner.eos) == (0.5, 3, 1, 2)
    x = np.random.default_rng(5).standard_normal((4, 3, 32, 32)).astype(np.float32)
    ids = captioner.token_ids(x, 2)
    assert all(len(row) <= 3 for row in ids) and max(map(len, ids)) == 3  # cut at max_length
    assert captioner.captions(x, 2) == [r.best.text for r in runtime.caption(x, 2)]
