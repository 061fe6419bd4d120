"""Which state keeper a decoder engine picks: bound in onnxruntime under CUDA (or when asked), NumPy on the CPU
by default (measured faster there); beam-search engines hand jobs each row's best tokens, the generator's engine
each row's sampled token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests_support import copy_model

from core.decoding.sampling import SamplingParams, StepSampler
from core.decoding.top_k import StepTopK
from service.engine.state import BoundState, HostState
from service.repository import ModelRepository
from service.runtimes.generator import GenerationRequest
from service.settings import Settings


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for name in ("charlstm-shakespeare", "gru-en-fr"):
        copy_model(root, name, source=name)
    return root


@pytest.mark.parametrize(("setting", "keeper"), [("auto", HostState), ("false", HostState), ("true", BoundState)])
def test_state_keeper_follows_the_setting_and_the_provider(models, setting, keeper):
    repo = ModelRepository(Settings(model_dir=models, providers="cpu", device_state=setting))
    repo.load_all()
    for name in ("charlstm-shakespeare", "gru-en-fr"):
        entry = repo.get(name)
        assert isinstance(entry.engine.scheduler.keeper, keeper), name
    assert isinstance(repo.get("gru-en-fr").engine.scheduler.reduce, StepTopK)  # beam search: TopK after the step
    assert isinstance(repo.get("charlstm-shakespeare").engine.scheduler.reduce, StepSampler)  # sampled there too


@pytest.mark.parametrize(("word", "value"), [("ON", "true"), ("1", "true"), ("off", "false"), (False, "false")])
def test_device_state_accepts_switch_words(word, value):
    assert Settings(device_state=word).device_state == value


def test_generations_sampled_together_equal_each_generated_alone(models):
    """The engine samples all rows of a step at once (StepSampler); each text is what the job makes alone
    (`GeneratorRuntime.generate` samples its own logits), whatever the mix of sampling parameters."""
    repo = ModelRepository(Settings(model_dir=models, providers="cpu"))
    repo.load_all()
    entry = repo.get("charlstm-shakespeare")
    runtime, engine = entry.runtime, entry.engine
    reqs = [
        GenerationRequest("ROMEO:", 60, SamplingParams(0.8, 40), seed=1),
        GenerationRequest("O", 45, SamplingParams(1.2, None, 0.9), seed=2),
        GenerationRequest("KING", 70, SamplingParams(), seed=3),
        GenerationRequest("ROMEO:", 60, SamplingParams(0.8, 40), seed=4),
    ]
    alone = ["".join(x for x in runtime.generate(r) if isinstance(x, str)) for r in reqs]
    rows_per_step = []
    observe = engine.scheduler.observe
    engine.scheduler.observe = lambda rows, seconds: rows_per_step.append(rows) or observe(rows, seconds)

    async def together() -> list[str]:
        outs: list[list] = [[] for _ in reqs]
        jobs = [runtime.start(r, outs[i].append) for i, r in enumerate(reqs)]
        await asyncio.gather(*(engine.run(job) for job in jobs))
        await engine.stop()
        return ["".join(x for x in out if isinstance(x, str)) for out in outs]

    assert asyncio.run(together()) == alone
    assert max(rows_per_step) == len(reqs)  # they really shared steps
