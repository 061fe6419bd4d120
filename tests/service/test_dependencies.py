"""ModelCalls, the dependency of every typed route: model lookup, the admission slot, the deadline, streams."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from tests_support import copy_model

from service.dependencies import CallsDep
from service.errors import install_handlers
from service.repository import ModelRepository
from service.runtimes.classifier import ClassifierRuntime
from service.runtimes.generator import GeneratorRuntime
from service.settings import Settings


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> ModelRepository:
    root = tmp_path_factory.mktemp("models")
    copy_model(root, "digits")
    repo = ModelRepository(Settings(model_dir=root, providers="cpu", max_queue=1, request_timeout_s=5))
    repo.load_all()
    return repo


def make_app(repository: ModelRepository) -> FastAPI:
    app = FastAPI()
    app.state.repository, app.state.settings = repository, repository.settings
    install_handlers(app)

    @app.post("/work")
    async def work(calls: CallsDep, seconds: float = 0.0, model: str | None = None) -> dict:
        async with calls.admit(ClassifierRuntime, model, None) as call:
            held = call.engine.admission.in_flight
            await call.run(asyncio.sleep(seconds))
        return {"model": call.entry.name, "held": held, "after": call.engine.admission.in_flight}

    @app.post("/generate")
    async def generate(calls: CallsDep) -> dict:
        async with calls.admit(GeneratorRuntime, "digits", None):
            return {}

    @app.post("/stream")
    async def stream(calls: CallsDep, seconds: float = 0.0) -> StreamingResponse:
        call = calls.open_stream(ClassifierRuntime, None, None)

        async def events():
            for i in range(3):
                await asyncio.sleep(seconds)
                yield f"{i}:{call.engine.admission.in_flight}\n"

        return StreamingResponse(call.stream(events(), lambda e: f"error:{type(e).__name__}:{e}\n"))

    return app


async def post(app: FastAPI, path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
        return await client.post(path, **kwargs)


def test_the_default_model_is_admitted_for_the_block_only(repository):
    r = asyncio.run(post(make_app(repository), "/work"))
    assert r.json() == {"model": "digits", "held": 1, "after": 0}


def test_a_full_queue_is_429_and_the_slot_comes_back(repository):
    app = make_app(repository)

    async def both():
        slow = asyncio.ensure_future(post(app, "/work", params={"seconds": 0.5}))
        await asyncio.sleep(0.1)
        refused = await post(app, "/work")
        return await slow, refused, await post(app, "/work")

    slow, refused, later = asyncio.run(both())
    assert slow.status_code == 200 and later.status_code == 200
    assert refused.status_code == 429 and "model 'digits' has 1 requests queued or running (limit 1)" in refused.text
    assert refused.headers["retry-after"] == "1"


def test_the_deadline_is_504_naming_the_whole_deadline(repository):
    r = asyncio.run(post(make_app(repository), "/work", params={"seconds": 2}, headers={"X-Request-Timeout": "0.1"}))
    assert r.status_code == 504 and "within its deadline of 0.1 s; its work was dropped" in r.json()["detail"]
    assert repository.get("digits").engine.admission.in_flight == 0


def test_lookup_errors_come_from_the_repository(repository):
    app = make_app(repository)
    r = asyncio.run(post(app, "/work", params={"model": "nope"}))
    assert r.status_code == 404 and "model 'nope' not found; available models: ['digits']" in r.json()["detail"]
    r = asyncio.run(post(app, "/generate"))
    assert r.status_code == 422 and "'digits' is a classify model, not generate" in r.json()["detail"]
    r = asyncio.run(post(app, "/work", headers={"X-Request-Timeout": "soon"}))
    assert r.status_code == 422 and "X-Request-Timeout is 'soon'" in r.json()["detail"]


def test_a_stream_holds_its_slot_while_it_runs(repository):
    r = asyncio.run(post(make_app(repository), "/stream"))
    assert r.text == "0:1\n1:1\n2:1\n"
    assert repository.get("digits").engine.admission.in_flight == 0


def test_a_stream_past_its_deadline_ends_with_the_error(repository):
    app = make_app(repository)
    r = asyncio.run(post(app, "/stream", params={"seconds": 0.3}, headers={"X-Request-Timeout": "0.5"}))
    assert r.status_code == 200  # the status line went out with the first event
    first, error = r.text.splitlines()
    assert first == "0:1" and error.startswith("error:DeadlineExceeded:the stream did not finish within its deadline")
    assert repository.get("digits").engine.admission.in_flight == 0
