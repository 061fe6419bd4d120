"""POST /v1/caption against the real server: Flickr8k test photos as JPEG uploads, BLEU-4 over 100 of them
against the constant-caption baseline, alternatives, attention, and bad input."""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image
from tests_support import png_header_only, served_version
from tokenizers import Tokenizer

from training.caption_metrics import coco_scores
from training.data import flickr8k
from training.tokenization import words

pytestmark = pytest.mark.integration

MODEL = "captioner-flickr8k"
VERSION = str(served_version(MODEL))
# The served model's test BLEU-4 is about 1.5x the constant caption's over all 1,000 test photos (manifest); it
# must beat the baseline by this margin on the first 100 through HTTP.
MIN_RATIO_OVER_BASELINE = 1.5


@pytest.fixture(scope="module")
def manifest(models_dir):
    return json.loads((models_dir / MODEL / VERSION / "manifest.json").read_text())


@pytest.fixture(scope="module")
def vocabulary(models_dir) -> set[str]:
    return set(Tokenizer.from_file(str(models_dir / MODEL / VERSION / "tokenizer.json")).get_vocab())


@pytest.fixture(scope="module")
def test_split(data_dir):
    return flickr8k.load_split(data_dir, "test")


def jpeg(data_dir, name: str) -> bytes:
    return (flickr8k.root(data_dir) / "images" / name).read_bytes()


def test_bleu4_over_100_test_photos_beats_constant_caption(server, data_dir, test_split, manifest, models_dir):
    names, hyps = test_split.names[:100], []
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for k in range(0, 100, 25):
            files = [("files", (n, jpeg(data_dir, n), "image/jpeg")) for n in names[k : k + 25]]
            r = client.post("/v1/caption", files=files)
            assert r.status_code == 200, r.text
            assert [res["name"] for res in r.json()["results"]] == names[k : k + 25]
            hyps += [res["caption"] for res in r.json()["results"]]
    tok = Tokenizer.from_file(str(models_dir / MODEL / VERSION / "tokenizer.json"))
    refs = [[" ".join(words(tok, c)) for c in caps] for caps in test_split.captions[:100]]
    ours = coco_scores(hyps, refs)["bleu4"]
    baseline = coco_scores([manifest["evaluation"]["baseline_caption"]] * 100, refs)["bleu4"]
    print(f"BLEU-4 over 100 test photos via HTTP: {ours:.2f}; constant caption: {baseline:.2f}")
    assert ours >= MIN_RATIO_OVER_BASELINE * baseline
    assert len(set(hyps)) >= 10, "captions depend on the photo"


def test_captions_are_vocabulary_words_without_end_token(server, data_dir, test_split, vocabulary):
    files = [("files", (n, jpeg(data_dir, n), "image/jpeg")) for n in test_split.names[:6]]
    r = httpx.post(f"{server.url}/v1/caption", files=files, params={"beam_size": 5, "num_alternatives": 2}, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == MODEL and out["version"] == int(VERSION)
    for res in out["results"]:
        assert res["caption"].strip() and "</s>" not in res["caption"] and "<unk>" not in res["caption"]
        assert set(res["caption"].split()) <= vocabulary
        assert len(res["alternatives"]) == 2 and all(a["score"] <= res["score"] for a in res["alternatives"])


def test_json_base64_any_size_and_mode_with_attention(server, data_dir, test_split):
    with Image.open(flickr8k.root(data_dir) / "images" / test_split.names[0]) as img:
        big = img.resize((500, 375)).convert("RGBA")
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    grey = io.BytesIO()
    Image.open(io.BytesIO(jpeg(data_dir, test_split.names[1]))).convert("L").save(grey, format="JPEG")
    body = {"images": [base64.b64encode(buf.getvalue()).decode(), base64.b64encode(grey.getvalue()).decode()]}
    r = httpx.post(f"{server.url}/v1/caption", json=body, params={"return_attention": True}, timeout=60)
    assert r.status_code == 200, r.text
    for res in r.json()["results"]:
        att = res["attention"]
        assert att["words"] == res["caption"].split() and att["grid"] == [7, 7]
        weights = np.array(att["weights"])
        assert weights.shape == (len(att["words"]), 49)
        np.testing.assert_allclose(weights.sum(1), 1, atol=1e-4)


def test_same_photo_same_caption_alone_or_in_a_batch(server, data_dir, test_split):
    names = test_split.names[10:14]
    with httpx.Client(base_url=server.url, timeout=60) as client:
        together = client.post("/v1/caption", files=[("files", (n, jpeg(data_dir, n))) for n in names]).json()
        alone = [client.post("/v1/caption", files=[("files", (n, jpeg(data_dir, n)))]).json() for n in names]
    assert [r["caption"] for r in together["results"]] == [a["results"][0]["caption"] for a in alone]


def bomb_png() -> bytes:
    return png_header_only(30000, 30000)


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"files": [("files", ("empty.jpg", b"", "image/jpeg"))]}, 422, "empty.jpg: empty upload"),
        ({"files": [("files", ("notes.jpg", b"just some text", "image/jpeg"))]}, 422, "notes.jpg: not a recognised"),
        ({"files": [("files", ("bomb.png", None, "image/png"))]}, 413, "bomb.png: image is 30000x30000"),
        ({"content": b"x" * (11 * 1024 * 1024), "headers": {"content-type": "application/json"}}, 413, "limit"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "is not accepted"),
        ({"json": {"images": ["not base64!"]}}, 422, "images[0]: not valid base64"),
        ({"json": {"images": []}}, 422, "images"),
        ({"params": {"beam_size": 0}}, 422, "beam_size"),
        ({"params": {"beam_size": 11}}, 422, "beam_size"),
        ({"params": {"num_alternatives": 6, "beam_size": 10}}, 422, "num_alternatives"),
        ({"params": {"num_alternatives": 3, "beam_size": 3}}, 422, "num_alternatives is 3 but beam_size is 3"),
        ({"params": {"max_length": 0}}, 422, "max_length"),
        ({"params": {"model": "lenet5-mnist"}}, 422, "is a classify model, not caption"),
    ],
)
def test_bad_input(server, data_dir, test_split, kwargs, status, message):
    kwargs = dict(kwargs)
    if "files" in kwargs:
        kwargs["files"] = [(f, (n, bomb_png() if body is None else body, t)) for f, (n, body, t) in kwargs["files"]]
    if "params" in kwargs:
        kwargs["files"] = [("files", ("a.jpg", jpeg(data_dir, test_split.names[0]), "image/jpeg"))]
    r = httpx.post(f"{server.url}/v1/caption", timeout=30, **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_truncated_jpeg_is_refused_and_server_keeps_serving(server, data_dir, test_split):
    data = jpeg(data_dir, test_split.names[0])
    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/v1/caption", files=[("files", ("cut.jpg", data[: len(data) // 3], "image/jpeg"))])
        assert r.status_code == 422 and "cut.jpg" in r.json()["detail"]
        ok = client.post("/v1/caption", files=[("files", ("ok.jpg", data, "image/jpeg"))])
        assert ok.status_code == 200 and ok.json()["results"][0]["caption"]
