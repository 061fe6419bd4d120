"""The client's shared pieces without a server: the server-sent events of /v1/generate as the server writes
them (service/routers/generate.py's `sse`), error bodies, uploads, request bodies."""

from __future__ import annotations

import httpx
import pytest

from service.client.base import DlserveError, Events, Finish, StreamError, error_of, image_files, query, translate_body
from service.routers.generate import sse


def lines(*events: str) -> list[str]:
    return "".join(events).splitlines()


def test_events_yield_text_and_keep_the_finish():
    finish = {"finish_reason": "length", "tokens": 2, "model": "m", "version": 1, "seed": 9}
    events = Events(200, "rid")
    text = [
        t
        for line in lines(sse({"text": "R"}), sse({"text": "O"}), sse(finish), sse("[DONE]"))
        for t in events.feed(line)
    ]
    assert text == ["R", "O"] and events.finish == Finish("length", 2, "m", 1, 9)
    events.check_complete()


def test_an_error_event_or_a_cut_stream_raises():
    events = Events(200, "rid")
    error = sse({"error": "deadline_exceeded", "detail": "the stream did not finish"}, event="error")
    with pytest.raises(StreamError) as err:
        for line in lines(sse({"text": "R"}), error):
            list(events.feed(line))
    assert (err.value.status, err.value.error, err.value.request_id) == (200, "deadline_exceeded", "rid")
    cut = Events(200, None)
    list(cut.feed('data: {"text": "R"}'))
    with pytest.raises(StreamError, match="ended before its"):
        cut.check_complete()


def test_error_bodies_of_every_shape():
    typed = httpx.Response(422, json={"error": "invalid_input", "detail": "top_k is 0", "request_id": "r1"})
    assert vars(error_of(typed)) == {
        "status": 422,
        "error": "invalid_input",
        "detail": "top_k is 0",
        "request_id": "r1",
    }
    v2 = error_of(httpx.Response(400, json={"error": "input 'x' is missing"}, headers={"x-request-id": "r2"}))
    assert (v2.status, v2.detail, v2.request_id) == (400, "input 'x' is missing", "r2")
    plain = error_of(httpx.Response(502, text="Bad Gateway"))
    assert (plain.status, plain.error, plain.detail) == (502, "http_error", "Bad Gateway")
    assert isinstance(plain, DlserveError) and str(plain) == "502 http_error: Bad Gateway"


def test_uploads_and_bodies(tmp_path):
    (tmp_path / "a.png").write_bytes(b"png")
    assert image_files([tmp_path / "a.png", b"raw"]) == [("files", ("a.png", b"png")), ("files", ("image-1", b"raw"))]
    assert image_files(str(tmp_path / "a.png")) == [("files", ("a.png", b"png"))]
    with pytest.raises(ValueError, match="no images"):
        image_files([])
    assert query(model=None, top_k=3, return_attention=False) == {"top_k": 3, "return_attention": "false"}
    assert translate_body("A dog.", "fr", beam_size=None) == {"text": "A dog.", "target": "fr"}
    assert translate_body(("A.", "B."), "de", model="gru-en-de") == {
        "texts": ["A.", "B."],
        "target": "de",
        "model": "gru-en-de",
    }
