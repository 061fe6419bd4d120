"""A corpus of malformed and edge-case requests against the real server: each row's status and the words its
message must contain (what was wrong, what is allowed), then the server must still be ready and right.

Decisions the corpus pins down:
- 16-bit, CMYK and animated (first frame) images are converted and served: the digit is still read.
- A 1x1 image has no contrast, so classify answers 422 "blank"; the captioner takes any photo and captions it.
- Emoji, Arabic, Hebrew and NUL characters in a sentence to translate are served (200): the tokenizer maps what
  it does not know to unknown tokens and the model still returns a sentence. The char-LSTM cannot do that: a
  prompt character outside its vocabulary is a 422 that lists the allowed ones.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from tests_support import png_header_only, served_version

pytestmark = pytest.mark.integration

LIMIT = 10 * 1024 * 1024  # DLSERVE_MAX_UPLOAD_BYTES default
SEVEN = 0  # index of a 7 in the MNIST test set (its first digit)
TWO = 1  # index of a 2
LENET_SERVED = served_version("lenet5-mnist")


@dataclass
class Row:
    name: str
    method: str
    path: str
    kwargs: dict[str, Any]
    status: int
    message: str  # a substring of the error message; for a 200, of the response body
    check: Callable[[dict], None] | None = field(default=None)  # more checks of a 200 body


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/png") -> dict[str, Any]:
    return {"files": [("files", (name, data, content_type))]}


def label_is(expected: int) -> Callable[[dict], None]:
    def check(body: dict) -> None:
        assert body["results"][0]["predictions"][0]["label"] == str(expected), body

    return check


def one_translation(body: dict) -> None:
    assert len(body["translations"]) == 1 and body["translations"][0]["text"].strip(), body
    assert body["translations"][0]["score"] < 0


def one_caption(body: dict) -> None:
    result = body["results"][0]
    assert result["name"] == "one.png" and len(result["caption"].split()) >= 2 and result["score"] < 0, body


def infer(inputs: list[dict]) -> dict[str, Any]:
    return {"json": {"inputs": inputs}}


def tensor(name: str, shape: list[int], datatype: str, data: list) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def corpus(digits: np.ndarray, labels: np.ndarray) -> list[Row]:
    seven, two = digits[SEVEN], digits[TWO]
    assert labels[SEVEN] == 7 and labels[TWO] == 2
    seven_png, seven_jpeg = encode(Image.fromarray(seven), "PNG"), encode(Image.fromarray(seven), "JPEG")
    paper = Image.fromarray(255 - seven)  # dark ink on white, as a scan is
    sixteen = Image.fromarray(seven.astype(np.uint16) * 257)  # mode I;16, full 16-bit range
    frames = [Image.fromarray(seven).convert("P"), Image.fromarray(two).convert("P")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    one = encode(Image.new("RGB", (1, 1), (120, 80, 40)), "PNG")
    zeros_bomb = encode(Image.new("1", (8000, 8000)), "PNG")  # 64 Mpixels in a few kB
    json_ct = {"content-type": "application/json"}
    lenet_zero = tensor("image", [1, 1, 28, 28], "FP32", [0.0] * 784)
    tokens, lengths = tensor("tokens", [1, 2], "INT64", [5, 17]), tensor("lengths", [1], "INT64", [2])
    allowed = "allowed characters: "
    rows = [
        # classify: uploads
        Row("truncated PNG", "POST", "/v1/classify", upload("t.png", seven_png[:100]), 422, "t.png: image data is truncated"),
        Row("truncated JPEG", "POST", "/v1/classify", upload("t.jpg", seven_jpeg[: len(seven_jpeg) * 2 // 3], "image/jpeg"), 422, "t.jpg: image data is truncated"),
        Row("zero-byte upload", "POST", "/v1/classify", upload("e.png", b""), 422, "e.png: empty upload (0 bytes); send a PNG, JPEG"),
        Row("text file named .png", "POST", "/v1/classify", upload("notes.png", b"just some text\n"), 422, "notes.png: not a recognised image format; send a PNG"),
        Row("1x1 image", "POST", "/v1/classify", upload("one.png", one), 422, "one.png: the image is blank (no ink found); send a picture of one"),
        Row("30000x30000 header-only bomb", "POST", "/v1/classify", upload("bomb.png", png_header_only(30000, 30000)), 413, "30000x30000 = 900000000 pixels; the limit is 40000000 pixels"),
        Row("8000x8000 zero PNG bomb", "POST", "/v1/classify", upload("zeros.png", zeros_bomb), 413, "8000x8000 = 64000000 pixels; the limit is 40000000"),
        Row("16-bit PNG of a 7", "POST", "/v1/classify", upload("16.png", encode(sixteen, "PNG")), 200, '"label":"7"', label_is(7)),
        Row("CMYK JPEG of a 7", "POST", "/v1/classify", upload("cmyk.jpg", encode(paper.convert("CMYK"), "JPEG"), "image/jpeg"), 200, '"label":"7"', label_is(7)),
        Row("animated GIF 7 then 2: first frame", "POST", "/v1/classify", upload("anim.gif", gif.getvalue(), "image/gif"), 200, '"label":"7"', label_is(7)),
        Row("wrong content type", "POST", "/v1/classify", {"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "'text/plain' is not accepted; send multipart/form-data (field 'files')"),
        Row("no content type", "POST", "/v1/classify", {"content": b"hello"}, 415, "content type 'missing' is not accepted"),
        Row("multipart without files field", "POST", "/v1/classify", {"files": [("image", ("a.png", seven_png))]}, 422, "no 'files' field in the multipart body; fields sent: ['image']"),
        Row("files as a text field", "POST", "/v1/classify", {"data": {"files": "abc"}, "files": [("other", ("a.png", seven_png))]}, 422, "files[0] is a text field, not a file upload"),
        Row("JSON images missing", "POST", "/v1/classify", {"json": {"pictures": []}}, 422, "images: Field required"),
        Row("JSON images not a list", "POST", "/v1/classify", {"json": {"images": "abc"}}, 422, "images: Input should be a valid list"),
        Row("JSON image not a string", "POST", "/v1/classify", {"json": {"images": [5]}}, 422, "images.0: Input should be a valid string"),
        Row("base64 that is not base64", "POST", "/v1/classify", {"json": {"images": ["not base64!"]}}, 422, "images[0]: not valid base64; send the image file's bytes base64-encoded"),
        Row("empty data: URL", "POST", "/v1/classify", {"json": {"images": ["data:image/png;base64,"]}}, 422, "images[0]: empty upload (0 bytes)"),
        Row("invalid UTF-8 in a JSON body", "POST", "/v1/classify", {"content": b'{"images": ["\xff"]}', "headers": json_ct}, 422, "body is not valid JSON"),
        Row("10 MB+ JSON body", "POST", "/v1/classify", {"content": b'{"images": ["' + b"A" * LIMIT + b'"]}', "headers": json_ct}, 413, f"; the limit is {LIMIT} bytes"),
        Row("unknown model", "POST", "/v1/classify?model=resnet50", upload("a.png", seven_png), 404, "model 'resnet50' not found; available models: ['alexnet-cifar10', 'captioner-flickr8k'"),
        Row("unknown version", "POST", "/v1/classify?version=9", upload("a.png", seven_png), 404, f"model 'lenet5-mnist' version 9 is not served; it serves version {LENET_SERVED}"),
        Row("model ../", "POST", "/v1/classify?model=../lenet5-mnist", upload("a.png", seven_png), 404, "model '../lenet5-mnist' not found; available models"),
        Row("model %2e%2e%2f", "POST", "/v1/classify?model=%2e%2e%2flenet5-mnist", upload("a.png", seven_png), 404, "model '../lenet5-mnist' not found"),
        Row("model name with a slash", "POST", "/v1/classify?model=lenet5-mnist/1", upload("a.png", seven_png), 404, "model 'lenet5-mnist/1' not found"),
        Row("top_k NaN", "POST", "/v1/classify?top_k=NaN", upload("a.png", seven_png), 422, "query.top_k: Input should be a valid integer"),
        Row("top_k 0", "POST", "/v1/classify?top_k=0", upload("a.png", seven_png), 422, "query.top_k: Input should be greater than or equal to 1"),
        Row("top_k 11", "POST", "/v1/classify?top_k=11", upload("a.png", seven_png), 422, "top_k is 11; allowed: 1..10"),
        Row("model path ../ in /v1/models", "GET", "/v1/models/..%2F..%2Fetc", {}, 404, "no route for"),
        # caption
        Row("caption a 1x1 image", "POST", "/v1/caption", upload("one.png", one), 200, '"caption":', one_caption),
        Row("caption a truncated JPEG", "POST", "/v1/caption", upload("t.jpg", seven_jpeg[: len(seven_jpeg) * 2 // 3], "image/jpeg"), 422, "t.jpg: image data is truncated"),
        Row("caption a bomb", "POST", "/v1/caption", upload("bomb.png", png_header_only(30000, 30000)), 413, "the limit is 40000000 pixels"),
        Row("caption beam_size 0", "POST", "/v1/caption?beam_size=0", upload("one.png", one), 422, "query.beam_size: Input should be greater than or equal to 1"),
        Row("caption beam_size -1", "POST", "/v1/caption?beam_size=-1", upload("one.png", one), 422, "query.beam_size: Input should be greater than or equal to 1"),
        Row("caption alternatives >= beam", "POST", "/v1/caption?beam_size=2&num_alternatives=2", upload("one.png", one), 422, "num_alternatives is 2 but beam_size is 2"),
        Row("caption max_length 51", "POST", "/v1/caption?max_length=51", upload("one.png", one), 422, "query.max_length: Input should be less than or equal to 50"),
        Row("caption wrong content type", "POST", "/v1/caption", {"content": b"<svg/>", "headers": {"content-type": "image/svg+xml"}}, 415, "'image/svg+xml' is not accepted"),
        # generate
        Row("generate: prompt missing", "POST", "/v1/generate", {"json": {"max_tokens": 5}}, 422, "prompt: Field required"),
        Row("generate: prompt not a string", "POST", "/v1/generate", {"json": {"prompt": 5}}, 422, "prompt: Input should be a valid string"),
        Row("generate: body is a JSON array", "POST", "/v1/generate", {"json": ["ROMEO:"]}, 422, "body must be a JSON object sent with Content-Type: application/json"),
        Row("generate: form body", "POST", "/v1/generate", {"data": {"prompt": "ROMEO:"}}, 422, "body must be a JSON object sent with Content-Type: application/json"),
        Row("generate: invalid UTF-8", "POST", "/v1/generate", {"content": b'{"prompt": "\xff\xfe"}', "headers": json_ct}, 422, "body is not valid JSON (it must be UTF-8 encoded JSON)"),
        Row("generate: empty prompt", "POST", "/v1/generate", {"json": {"prompt": ""}}, 422, "prompt: String should have at least 1 character"),
        Row("generate: NUL in prompt", "POST", "/v1/generate", {"json": {"prompt": "ROMEO:\x00"}}, 422, "prompt has characters outside the model's vocabulary: ['\\x00']; " + allowed),
        Row("generate: emoji prompt", "POST", "/v1/generate", {"json": {"prompt": "ROMEO 😀"}}, 422, "outside the model's vocabulary: ['😀']; " + allowed),
        Row("generate: Hebrew prompt", "POST", "/v1/generate", {"json": {"prompt": "שלום"}}, 422, allowed + '"\\\\n !$&'),
        Row("generate: temperature NaN", "POST", "/v1/generate", {"content": b'{"prompt": "A", "temperature": NaN}', "headers": json_ct}, 422, "temperature: Input should be a finite number"),
        Row("generate: temperature Infinity", "POST", "/v1/generate", {"content": b'{"prompt": "A", "temperature": Infinity}', "headers": json_ct}, 422, "temperature: Input should be a finite number"),
        Row("generate: temperature -1", "POST", "/v1/generate", {"json": {"prompt": "A", "temperature": -1}}, 422, "temperature: Input should be greater than 0"),
        Row("generate: max_tokens -5", "POST", "/v1/generate", {"json": {"prompt": "A", "max_tokens": -5}}, 422, "max_tokens: Input should be greater than or equal to 1"),
        Row("generate: max_tokens 2001", "POST", "/v1/generate", {"json": {"prompt": "A", "max_tokens": 2001}}, 422, "max_tokens: Input should be less than or equal to 2000"),
        Row("generate: top_p -0.5", "POST", "/v1/generate", {"json": {"prompt": "A", "top_p": -0.5}}, 422, "top_p: Input should be greater than 0"),
        Row("generate: top_k 0", "POST", "/v1/generate", {"json": {"prompt": "A", "top_k": 0}}, 422, "top_k: Input should be greater than or equal to 1"),
        Row("generate: seed -1", "POST", "/v1/generate", {"json": {"prompt": "A", "seed": -1}}, 422, "seed: Input should be greater than or equal to 0"),
        Row("generate: a classify model", "POST", "/v1/generate", {"json": {"prompt": "A", "model": "lenet5-mnist"}}, 422, "is a classify model, not generate; generate models: ['charlstm-shakespeare']"),
        Row("generate: unknown version", "POST", "/v1/generate", {"json": {"prompt": "A", "version": 3}}, 404, "version 3 is not served; it serves version 1"),
        Row("generate: model ../", "POST", "/v1/generate", {"json": {"prompt": "A", "model": "../charlstm-shakespeare"}}, 404, "not found; available models"),
        # translate
        Row("translate: 1,000 texts", "POST", "/v1/translate", {"json": {"texts": ["A dog runs."] * 1000}}, 422, "texts: List should have at most 64 items"),
        Row("translate: empty string", "POST", "/v1/translate", {"json": {"text": ""}}, 422, "texts[0] is empty or whitespace; send 1..1000 characters"),
        Row("translate: whitespace", "POST", "/v1/translate", {"json": {"texts": ["A dog.", " \t\n"]}}, 422, "texts[1] is empty or whitespace"),
        Row("translate: text and texts", "POST", "/v1/translate", {"json": {"text": "A", "texts": ["B"]}}, 422, "send exactly one of `text` (a string) or `texts`"),
        Row("translate: 1,001 characters", "POST", "/v1/translate", {"json": {"text": "a" * 1001}}, 422, "text: String should have at most 1000 characters"),
        Row("translate: text not a string", "POST", "/v1/translate", {"json": {"text": ["A dog."]}}, 422, "text: Input should be a valid string"),
        Row("translate: emoji", "POST", "/v1/translate", {"json": {"text": "😀 🚲 🐕"}}, 200, '"translations":', one_translation),
        Row("translate: Arabic (right to left)", "POST", "/v1/translate", {"json": {"text": "رجل يركب دراجة"}}, 200, '"model":"gru-en-fr"', one_translation),
        Row("translate: Hebrew to German", "POST", "/v1/translate", {"json": {"text": "איש רוכב על אופניים", "target": "de"}}, 200, '"model":"gru-en-de"', one_translation),
        Row("translate: NUL inside text", "POST", "/v1/translate", {"json": {"text": "A man\x00 rides a bike."}}, 200, '"translations":', one_translation),
        Row("translate: beam_size -1", "POST", "/v1/translate", {"json": {"text": "A", "beam_size": -1}}, 422, "beam_size: Input should be greater than or equal to 1"),
        Row("translate: beam_size NaN", "POST", "/v1/translate", {"content": b'{"text": "A", "beam_size": NaN}', "headers": json_ct}, 422, "beam_size: Input should be a finite number"),
        Row("translate: beam_size 11", "POST", "/v1/translate", {"json": {"text": "A", "beam_size": 11}}, 422, "beam_size: Input should be less than or equal to 10"),
        Row("translate: max_length 0", "POST", "/v1/translate", {"json": {"text": "A", "max_length": 0}}, 422, "max_length: Input should be greater than or equal to 1"),
        Row("translate: unsupported pair", "POST", "/v1/translate", {"json": {"text": "A", "target": "xx"}}, 422, "language pair en-xx is not supported; supported pairs: ['en-de', 'en-fr']"),
        Row("translate: model/pair mismatch", "POST", "/v1/translate", {"json": {"text": "A", "model": "gru-en-de"}}, 422, "model 'gru-en-de' translates en-de, not en-fr"),
        Row("translate: unknown model", "POST", "/v1/translate", {"json": {"text": "A", "model": "gru-en-xx"}}, 404, "model 'gru-en-xx' not found; available models"),
        # Open Inference Protocol (v2)
        Row("v2: wrong datatype", "POST", "/v2/models/lenet5-mnist/infer", infer([tensor("image", [1, 1, 28, 28], "INT64", [0] * 784)]), 400, "input 'image' is INT64; model 'lenet5-mnist' takes FP32"),
        Row("v2: unknown datatype", "POST", "/v2/models/lenet5-mnist/infer", infer([{**lenet_zero, "datatype": "FP128"}]), 400, "datatype 'FP128' is not supported; supported: BOOL"),
        Row("v2: shape/data mismatch", "POST", "/v2/models/lenet5-mnist/infer", infer([{**lenet_zero, "data": [0.0] * 783}]), 400, "shape [1, 1, 28, 28] holds 784 values but data has 783"),
        Row("v2: wrong rank", "POST", "/v2/models/lenet5-mnist/infer", infer([tensor("image", [784], "FP32", [0.0] * 784)]), 400, "has shape [784]; model 'lenet5-mnist' takes [-1, 1, 28, 28] (-1: any size)"),
        Row("v2: unknown input name", "POST", "/v2/models/lenet5-mnist/infer", infer([{**lenet_zero, "name": "img"}]), 400, "model 'lenet5-mnist' has no input 'img'; its inputs: ['image']"),
        Row("v2: strings as FP32 data", "POST", "/v2/models/lenet5-mnist/infer", infer([{**lenet_zero, "data": ["x"] * 784}]), 400, "FP32 data must be numbers, not strings"),
        Row("v2: no inputs", "POST", "/v2/models/lenet5-mnist/infer", infer([]), 400, "inputs: List should have at least 1 item"),
        Row("v2: empty batch", "POST", "/v2/models/gru-en-fr.encoder/infer", infer([tensor("tokens", [0, 2], "INT64", []), tensor("lengths", [0], "INT64", [])]), 400, "input 'tokens' has shape [0, 2], with no elements; every size must be >= 1"),
        Row("v2: token id past the vocabulary", "POST", "/v2/models/gru-en-fr.encoder/infer", infer([{**tokens, "data": [999999, 5]}, lengths]), 400, "could not run on these inputs"),
        Row("v2: invalid JSON", "POST", "/v2/models/lenet5-mnist/infer", {"content": b'{"inputs": [', "headers": json_ct}, 400, "request body is not valid JSON"),
        Row("v2: bad Inference-Header-Content-Length", "POST", "/v2/models/lenet5-mnist/infer", {"content": b"{}", "headers": {"inference-header-content-length": "99"}}, 400, "Inference-Header-Content-Length is '99'; send the JSON part's length (0..2 bytes)"),
        Row("v2: unknown model", "POST", "/v2/models/resnet50/infer", infer([lenet_zero]), 404, "model 'resnet50' not found; v2 models: ['alexnet-cifar10', 'captioner-flickr8k.decoder_step'"),
        Row("v2: unknown graph", "GET", "/v2/models/gru-en-fr.decoder", {}, 404, "model 'gru-en-fr' has no graph 'decoder'; v2 models: ['gru-en-fr.decoder_step', 'gru-en-fr.encoder']"),
        Row("v2: unknown version", "POST", "/v2/models/lenet5-mnist/versions/9/infer", infer([lenet_zero]), 404, f"model 'lenet5-mnist' has no version '9' loaded; it serves version {LENET_SERVED}"),
        Row("v2: model ../ (encoded slash)", "GET", "/v2/models/..%2Flenet5-mnist", {}, 404, "no route for '/v2/models/../lenet5-mnist'"),
        Row("v2: load with a version that is not a number", "POST", "/v2/repository/models/lenet5-mnist/load", {"json": {"parameters": {"version": "../1"}}}, 400, "parameters.version is '../1'; send a version number such as \"2\""),
        Row("v2: load a path", "POST", "/v2/repository/models/lenet5-mnist%2F..%2F..%2Fetc/load", {}, 404, "no route for"),
    ]  # fmt: skip
    return rows


def test_bad_input_corpus(server, mnist_test):
    digits, labels = mnist_test
    rows = corpus(digits, labels)
    assert len(rows) >= 40 and len({r.name for r in rows}) == len(rows)
    outcomes, failures = [], []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for row in rows:
            r = client.request(row.method, row.path, **row.kwargs)
            body = r.json()
            text = (
                body.get("detail", body.get("error"))
                if r.status_code >= 400
                else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
            )
            outcomes.append((row.name, r.status_code, text))
            if r.status_code != row.status or row.message not in text:
                failures.append(f"{row.name}: {r.status_code} {text!r}; expected {row.status} with {row.message!r}")
            elif row.check is not None:
                try:
                    row.check(body)
                except AssertionError as e:
                    failures.append(f"{row.name}: {e}")
    width = max(len(name) for name, _, _ in outcomes)
    print(f"\n{'request':{width}}  status  message")
    for name, status, text in outcomes:
        print(f"{name:{width}}  {status:6}  {text[:110]}")
    print(f"{len(rows)} rows, {len(failures)} failures")
    assert not failures, "\n".join(failures)

    # The server is still ready, and still right: a real MNIST 7, and a base64 2, get their true labels.
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    files = [("files", ("seven.png", encode(Image.fromarray(digits[SEVEN]), "PNG"), "image/png"))]
    r = httpx.post(f"{server.url}/v1/classify", files=files, timeout=30)
    assert r.status_code == 200 and r.json()["results"][0]["predictions"][0]["label"] == "7", r.text
    payload = {"images": [base64.b64encode(encode(Image.fromarray(digits[TWO]), "PNG")).decode()]}
    r = httpx.post(f"{server.url}/v1/classify", json=payload, timeout=30)
    assert r.status_code == 200 and r.json()["results"][0]["predictions"][0]["label"] == "2", r.text
