"""Fixtures of the training tests: a tiny random captioner, the same exported to a model folder, and the check
that an exported folder is served and evaluated."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from core.graph_specs import cpu_session, graph_entry, reference_pair
from service.repository import ModelRepository, Status
from service.settings import Settings
from training.captioning.export import export_graphs
from training.cli import run
from training.models.captioner import CaptionDecoder, CaptionerConfig, DecoderStepGraph, EncoderGraph, ImageEncoder
from training.tokenization import train_words

BANNED = [0, 1, 3]  # pad, BOS and the unknown word: never generated
WORDS = [f"w{i}" for i in range(36)]  # ids 4..39 after the 4 specials


def make_tiny_captioner(attention: str = "soft") -> tuple[ImageEncoder, CaptionDecoder]:
    torch.manual_seed(0)
    cfg = CaptionerConfig(vocab=40, concepts=10, channels=(4, 8, 8, 16), image_size=32, embed_dim=8, hidden=12,
                          attn_dim=6, dropout=0.0, attention=attention)  # fmt: skip
    encoder = ImageEncoder(cfg)
    # Batch-norm statistics of random photos (one cumulative pass), so that region features vary with the photo
    # as a trained encoder's do: with the initial statistics they are near zero and every photo looks alike.
    for m in encoder.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        encoder(torch.randn(64, 3, 32, 32))
    return encoder.eval(), CaptionDecoder(cfg).eval()


@dataclass
class CaptionerExport:
    folder: Path
    manifest: dict[str, Any]
    encoder: ImageEncoder
    decoder: CaptionDecoder
    enc_graph: EncoderGraph
    step_graph: DecoderStepGraph


@pytest.fixture
def tiny_captioner() -> Callable[[str], tuple[ImageEncoder, CaptionDecoder]]:
    """Encoder and decoder of a tiny random captioner (32x32 photos, 2x2 regions, 40 words), by attention kind."""
    return make_tiny_captioner


@pytest.fixture
def captioner_export(tmp_path: Path) -> Callable[[str], CaptionerExport]:
    """A tiny random captioner exported into a model folder the service can load: graphs, vocabulary, manifest."""

    def make(attention: str = "soft") -> CaptionerExport:
        folder = tmp_path / "tiny-captioner" / "1"
        folder.mkdir(parents=True)
        encoder, decoder = make_tiny_captioner(attention)
        enc_graph, step_graph = export_graphs(encoder, decoder, BANNED, folder)
        train_words([" ".join(WORDS)] * 2, 1).save(str(folder / "tokenizer.json"))
        probe = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
        manifest = {
            "name": "tiny-captioner", "version": 1, "task": "caption",
            "graphs": {"encoder": graph_entry(folder / "encoder.onnx"),
                       "decoder_step": graph_entry(folder / "decoder_step.onnx")},
            "preprocessing": {"kind": "photo", "resize": 40, "crop": 32, "mean": [0.5] * 3, "std": [0.25] * 3},
            "tokenizer": "tokenizer.json", "special_tokens": {"pad": 0, "bos": 1, "eos": 2},
            "decoding": {"beam_size": 3, "alpha": 1.0, "max_length": 12},
            "reference": reference_pair(cpu_session(folder / "encoder.onnx"), "encoder", {"image": probe}),
        }  # fmt: skip
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return CaptionerExport(folder, manifest, encoder, decoder, enc_graph, step_graph)

    return make


@pytest.fixture
def serve_and_evaluate(capsys: pytest.CaptureFixture[str], data_dir: Path) -> Callable[..., dict[str, Any]]:
    """Load models/<name>/<version> as the service does (it must be ready), then run `dlserve evaluate` on it with
    `options`; the scores it printed."""

    def check(out: Path, *options: str) -> dict[str, Any]:
        name = out.parent.name
        repo = ModelRepository(Settings(model_dir=out.parent.parent))
        repo.load_all()
        assert repo.get(name).status == Status.ready, repo.get(name)
        capsys.readouterr()
        run("evaluate", name, ["--out", str(out), "--data-dir", str(data_dir), *options])
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    return check


@pytest.fixture
def quantize_and_serve(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, Any]]:
    """`dlserve export <name> --quantize int8` of the float folder `src` into the next version, with a short
    timing; checks that the service loads the int8 version when asked for it by number, and that startup serves
    it only when export said it meets its goal. Returns the int8 manifest."""
    from training import quantize

    timing = quantize.items_per_second
    monkeypatch.setattr(quantize, "items_per_second", lambda w: timing(w, rounds=1, min_seconds=0.05))

    def check(src: Path, *options: str) -> dict[str, Any]:
        name, out = src.parent.name, src.parent / str(int(src.name) + 1)
        run("export", name, ["--quantize", "int8", "--out", str(out), "--data-dir", str(data_dir), *options])
        m = json.loads((out / "manifest.json").read_text())
        summary = m["quantization"]["summary"]
        assert m["version"] == int(out.name) and m["quantization"]["from_version"] == int(src.name)
        assert m["opt_in"] is not summary["served_by_default"]
        repo = ModelRepository(Settings(model_dir=src.parent.parent))
        repo.load_all()
        assert repo.get(name).version == (int(out.name) if summary["served_by_default"] else int(src.name))

        async def load_int8() -> None:
            entry = await repo.reload(name, version=int(out.name))
            assert entry.status == Status.ready and entry.manifest.opt_in is m["opt_in"]
            await repo.stop()

        asyncio.run(load_int8())
        return m

    return check
