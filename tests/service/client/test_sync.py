"""`Client` against the real server: each method's typed result equals the raw HTTP answer to the same request,
the streamed text is the whole text, errors carry the server's status and detail, keys are sent."""

from __future__ import annotations

import httpx
import pytest
from tests_support import png, served_version

from service.client import Client, DlserveError
from service.schemas.classify import ClassifyResponse
from service.schemas.translate import TranslateResponse
from training.data import flickr8k

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dl(server):
    with Client(server.url) as client:
        yield client


def test_classify_paths_and_bytes(dl, server, mnist_test, tmp_path):
    images, labels = mnist_test
    (tmp_path / "seven.png").write_bytes(png(images[0]))
    result = dl.classify([tmp_path / "seven.png", png(images[1])], top_k=2)
    assert isinstance(result, ClassifyResponse) and result.model == "lenet5-mnist"
    assert result.version == served_version("lenet5-mnist")
    assert [r.name for r in result.results] == ["seven.png", "image-1"]
    assert [r.predictions[0].index for r in result.results] == list(labels[:2])
    files = [("files", ("seven.png", png(images[0]))), ("files", ("image-1", png(images[1])))]
    raw = httpx.post(f"{server.url}/v1/classify", params={"top_k": 2}, files=files).json()
    assert result.model_dump() == raw
    assert dl.classify(str(tmp_path / "seven.png")).results[0].name == "seven.png"  # one path, not a list


def test_translate_one_or_many(dl, server):
    one = dl.translate("A man is riding a bike.", target="fr")
    many = dl.translate(["A man is riding a bike.", "Two dogs play in the snow."], target="de", beam_size=3)
    assert isinstance(one, TranslateResponse) and len(one.translations) == 1 and len(many.translations) == 2
    raw = httpx.post(f"{server.url}/v1/translate", json={"texts": ["A man is riding a bike.",
                     "Two dogs play in the snow."], "target": "de", "beam_size": 3}, timeout=60).json()  # fmt: skip
    assert many.model_dump() == raw and many.model == "gru-en-de"


def test_generate_whole_and_streamed(dl):
    whole = dl.generate("ROMEO:", max_tokens=80, seed=7)
    stream = dl.generate("ROMEO:", stream=True, max_tokens=80, seed=7)
    assert stream.finish is None  # nothing sent yet
    pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == whole.text
    finish = stream.finish
    assert (finish.finish_reason, finish.tokens, finish.seed, finish.model) == ("length", 80, 7, "charlstm-shakespeare")
    assert whole.tokens == 80 and whole.seed == 7


def test_caption_a_photo(dl, data_dir):
    name = flickr8k.load_split(data_dir, "test").names[0]
    result = dl.caption(flickr8k.root(data_dir) / "images" / name, beam_size=3, num_alternatives=1)
    assert result.results[0].name == name and result.results[0].caption
    assert len(result.results[0].alternatives) == 1


def test_errors_carry_status_code_and_detail(dl):
    with pytest.raises(DlserveError) as err:
        dl.translate("A dog.", target="es")
    assert (err.value.status, err.value.error) == (422, "invalid_input") and "en-es" in err.value.detail
    assert err.value.request_id
    with pytest.raises(DlserveError) as err:
        dl.classify([b"not an image"], model="resnet50")
    assert (err.value.status, err.value.error) == (404, "model_not_found") and "resnet50" in err.value.detail
    with pytest.raises(DlserveError) as err:
        list(dl.generate("ROMEO:", stream=True, max_tokens=0))  # refused before the stream starts
    assert err.value.status == 422 and "max_tokens" in err.value.detail
    assert {m.name for m in dl.models().models} >= {"lenet5-mnist", "gru-en-fr"}


def test_api_key(keyed, api_key, mnist_test):
    digit = png(mnist_test[0][0])
    with Client(keyed.url) as anonymous, pytest.raises(DlserveError) as err:
        anonymous.classify(digit)
    assert (err.value.status, err.value.error) == (401, "unauthorized")
    with Client(keyed.url, api_key=api_key) as dl:
        assert dl.classify(digit).results[0].predictions[0].index == mnist_test[1][0]
