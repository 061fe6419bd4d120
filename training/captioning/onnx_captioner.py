"""Captions from the exported graphs, made the way the server makes them, without the server.

Photos go through the manifest's preprocessing recipe (core.preprocessing.recipes), the encoder graph gives
region features, attention keys and the initial state, and core.decoding's beam search runs over the decoder
step graph: the same pieces, in the same order, as service/runtimes/captioner.py, so the scores measured here
are those of the captions users get (tests/training/captioning/test_onnx_captioner.py holds the two equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tokenizers import Tokenizer

from core.decoding.beam import BeamSearch
from core.decoding.top_k import TopK
from core.manifest import Photo
from core.preprocessing import recipes
from training.export import cpu_session

ENCODER_OUTPUTS = ("regions", "keys", "state")
STEP_OUTPUTS = ["log_probs", "state_out", "attention"]
CHUNK = 100  # photos per beam search: enough to batch the decoder calls, few enough to keep memory small


def photos(recipe: Photo, paths: Sequence[Path]) -> np.ndarray:
    """(N, 3, crop, crop) float32 from image files, by a manifest's photo recipe, as the server prepares uploads."""
    rows = []
    for path in paths:
        with Image.open(path) as image:
            rows.append(recipes.apply(recipe, image, path.name))
    return np.stack(rows)


class OnnxCaptioner:
    """A caption model folder's graphs in onnxruntime, and the serving fields of its manifest (a dict)."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.encoder = cpu_session(folder / "encoder.onnx")
        self.step = cpu_session(folder / "decoder_step.onnx")
        self.step_inputs = {i.name for i in self.step.get_inputs()}  # the attention-free graph has no `keys`
        self.top_k = TopK()  # the engine's beam step; NumPy's argpartition is as slow as the decoder step
        self.recipe = Photo(**manifest["preprocessing"])
        self.tokenizer = Tokenizer.from_file(str(folder / manifest["tokenizer"]))
        self.bos, self.eos = manifest["special_tokens"]["bos"], manifest["special_tokens"]["eos"]
        decoding = manifest.get("decoding", {})
        self.alpha = float(decoding.get("alpha", 1.0))
        self.max_length = int(decoding.get("max_length", 20))

    def photos(self, paths: Sequence[Path]) -> np.ndarray:
        return photos(self.recipe, paths)

    def encode(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """(B, 3, crop, crop) -> regions (B, L, D), keys (B, L, A), state (B, 2H)."""
        outs = self.encoder.run(list(ENCODER_OUTPUTS), {"image": batch.astype(np.float32)})
        return dict(zip(ENCODER_OUTPUTS, outs, strict=True))

    def token_ids(self, batch: np.ndarray, beam_size: int, alpha: float | None = None) -> list[list[int]]:
        """The best caption of each photo as word ids (EOS excluded), by beam search over the step graph."""
        encoded = self.encode(batch)

        def step(tokens: np.ndarray, state: np.ndarray, sent: np.ndarray):
            regions, keys = encoded["regions"][sent], encoded["keys"][sent]  # each row's photo
            feeds = {"tokens": tokens, "state": state, "regions": regions, "keys": keys}
            return self.step.run(STEP_OUTPUTS, {k: v for k, v in feeds.items() if k in self.step_inputs})

        alpha = self.alpha if alpha is None else alpha
        limits = [self.max_length] * len(batch)
        search = BeamSearch(encoded["state"], self.bos, self.eos, beam_size, limits, alpha, keep_attention=True)
        best = search.run(step, self.top_k)
        return [h.tokens for h in best]

    def captions(self, batch: np.ndarray, beam_size: int, alpha: float | None = None) -> list[str]:
        """The best caption of each photo, its words joined by spaces."""
        out: list[str] = []
        for i in range(0, len(batch), CHUNK):
            ids = self.token_ids(batch[i : i + CHUNK], beam_size, alpha)
            out += [" ".join(self.tokenizer.id_to_token(t) for t in row) for row in ids]
        return out
