"""The captioner's export checks: parity at every batch size they try, and greedy decoding that must agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.captioning.export import check_greedy, check_parity
from training.captioning.onnx_captioner import OnnxCaptioner
from training.export import ParityError


def test_parity_checks_every_batch_size(captioner_export):
    export = captioner_export()
    captioner = OnnxCaptioner(export.folder, export.manifest)
    photos = np.random.default_rng(6).standard_normal((12, 3, 32, 32)).astype(np.float32)
    diffs = check_parity(export.enc_graph, export.step_graph, captioner, photos)
    assert set(diffs) == {"encoder@1", "encoder@3", "encoder@8", "decoder_step@1", "decoder_step@5", "decoder_step@12"}
    assert max(diffs.values()) <= 1e-4
    check_greedy(export.encoder, export.step_graph, captioner, photos)  # raises when they differ


def test_checks_catch_a_model_that_is_not_the_exported_one(captioner_export):
    export = captioner_export()
    captioner = OnnxCaptioner(export.folder, export.manifest)
    photos = np.random.default_rng(7).standard_normal((12, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        export.decoder.out.bias[4:] = torch.linspace(0, 50, 36)  # PyTorch now always prefers the last word
    with pytest.raises(ParityError):
        check_parity(export.enc_graph, export.step_graph, captioner, photos)
    with pytest.raises(AssertionError, match="greedy decode differs"):
        check_greedy(export.encoder, export.step_graph, captioner, photos)
