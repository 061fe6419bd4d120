"""POST /v1/translate: sentences in, translations out (beam search), optionally with attention matrices."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from service.dependencies import RepositoryDep, SettingsDep
from service.engine.engines import DecoderEngine
from service.engine.lifecycle import deadline_seconds, guarded
from service.errors import InvalidInput
from service.repository import ModelRepository
from service.runtimes.translator import Translation, TranslatorRuntime
from service.schemas.common import ErrorResponse
from service.schemas.translate import Attention, TranslateRequest, TranslateResponse, TranslationOut

router = APIRouter(prefix="/v1", tags=["translate"])
ERRORS = {code: {"model": ErrorResponse} for code in (404, 422, 429, 503, 504)}


def model_for_pair(repository: ModelRepository, source: str, target: str) -> str:
    pairs = {}
    for name in repository.names_for("translate"):
        langs = repository.entries[name].manifest.languages
        pairs[f"{langs.source}-{langs.target}"] = name
    if f"{source}-{target}" not in pairs:
        raise InvalidInput(f"language pair {source}-{target} is not supported; supported pairs: {sorted(pairs)}")
    return pairs[f"{source}-{target}"]


def to_schema(t: Translation, with_attention: bool) -> TranslationOut:
    attention = None
    if t.attention is not None:
        attention = Attention(
            source_tokens=t.source_tokens, target_tokens=t.target_tokens, weights=t.attention.tolist()
        )
    return TranslationOut(
        text=t.text, score=t.score, tokens=t.target_tokens if with_attention else None, attention=attention
    )


@router.post("/translate", response_model=TranslateResponse, responses=ERRORS)
async def translate(
    body: TranslateRequest, request: Request, repository: RepositoryDep, settings: SettingsDep
) -> TranslateResponse:
    name = body.model or model_for_pair(repository, body.source, body.target)
    entry, runtime = repository.runtime(name, "translate", body.version)
    assert isinstance(runtime, TranslatorRuntime) and isinstance(entry.engine, DecoderEngine)
    request.state.model = entry.name
    if (runtime.source, runtime.target) != (body.source, body.target):
        raise InvalidInput(
            f"model {name!r} translates {runtime.source}-{runtime.target}, not {body.source}-{body.target}"
        )
    timeout = deadline_seconds(request, settings.request_timeout_s)
    with entry.engine.admission.slot():
        encoded = await run_in_threadpool(runtime.encode, body.all_texts())
        job = runtime.job(encoded, body.beam_size or runtime.default_beam, body.max_length, body.return_attention)
        await guarded(request, entry.engine.run(job), timeout)
    return TranslateResponse(
        model=entry.name,
        version=entry.version or 0,
        translations=[to_schema(t, body.return_attention) for t in runtime.results(job, body.return_attention)],
    )
