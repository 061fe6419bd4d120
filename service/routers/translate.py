"""POST /v1/translate: sentences in, translations out (beam search), optionally with attention matrices."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from service.dependencies import CallsDep, RepositoryDep
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
async def translate(body: TranslateRequest, calls: CallsDep, repository: RepositoryDep) -> TranslateResponse:
    name = body.model or model_for_pair(repository, body.source, body.target)
    async with calls.admit(TranslatorRuntime, name, body.version) as call:
        runtime = call.runtime
        if (runtime.source, runtime.target) != (body.source, body.target):
            raise InvalidInput(
                f"model {name!r} translates {runtime.source}-{runtime.target}, not {body.source}-{body.target}"
            )
        encoded = await call.run(run_in_threadpool(runtime.encode, body.all_texts()))
        job = runtime.job(encoded, body.beam_size or runtime.default_beam, body.max_length, body.return_attention)
        await call.run(call.engine.run(job))
    return TranslateResponse(
        model=call.entry.name,
        version=call.version,
        translations=[to_schema(t, body.return_attention) for t in runtime.results(job, body.return_attention)],
    )
