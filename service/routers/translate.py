"""POST /v1/translate: sentences in, translations out (beam search), optionally with attention matrices."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from service.dependencies import RepositoryDep
from service.errors import InvalidInput
from service.repository import ModelRepository
from service.runtimes.translator import TranslatorRuntime
from service.schemas.common import ErrorResponse
from service.schemas.translate import Attention, TranslateRequest, TranslateResponse, TranslationOut

router = APIRouter(prefix="/v1", tags=["translate"])
ERRORS = {code: {"model": ErrorResponse} for code in (404, 422, 503)}


def model_for_pair(repository: ModelRepository, source: str, target: str) -> str:
    pairs = {}
    for name in repository.names_for("translate"):
        langs = repository.entries[name].manifest.languages
        pairs[f"{langs.source}-{langs.target}"] = name
    if f"{source}-{target}" not in pairs:
        raise InvalidInput(f"language pair {source}-{target} is not supported; supported pairs: {sorted(pairs)}")
    return pairs[f"{source}-{target}"]


@router.post("/translate", response_model=TranslateResponse, responses=ERRORS)
async def translate(body: TranslateRequest, repository: RepositoryDep) -> TranslateResponse:
    name = body.model or model_for_pair(repository, body.source, body.target)
    entry, runtime = repository.runtime(name, "translate")
    assert isinstance(runtime, TranslatorRuntime)
    if (runtime.source, runtime.target) != (body.source, body.target):
        raise InvalidInput(
            f"model {name!r} translates {runtime.source}-{runtime.target}, not {body.source}-{body.target}"
        )
    beam = body.beam_size or runtime.default_beam
    results = await run_in_threadpool(runtime.translate, body.all_texts(), beam, body.max_length, body.return_attention)
    return TranslateResponse(
        model=entry.name,
        version=entry.version or 0,
        translations=[
            TranslationOut(
                text=t.text,
                score=t.score,
                tokens=t.target_tokens if body.return_attention else None,
                attention=Attention(
                    source_tokens=t.source_tokens, target_tokens=t.target_tokens, weights=t.attention.tolist()
                )
                if t.attention is not None
                else None,
            )
            for t in results
        ],
    )
