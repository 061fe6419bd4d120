"""The character generator runtime on the committed model: reproducible, stops, prefill == stepping."""

from __future__ import annotations

import numpy as np
import pytest

from core.decoding.sampling import SamplingParams
from service.errors import InvalidInput
from service.repository import ModelRepository
from service.runtimes.generator import Finish, GenerationRequest, GeneratorRuntime
from service.settings import Settings


@pytest.fixture(scope="module")
def runtime(models_dir) -> GeneratorRuntime:
    repo = ModelRepository(Settings(model_dir=models_dir))
    repo.discover()
    entry = repo.get("charlstm-shakespeare")
    repo.load(entry)
    assert entry.runtime is not None, entry.reason
    return entry.runtime


def text_of(runtime: GeneratorRuntime, **kw) -> tuple[str, Finish]:
    req = GenerationRequest(
        **{"prompt": "ROMEO:", "max_tokens": 80, "sampling": SamplingParams(0.8, 40), "seed": 7, **kw}
    )
    items = list(runtime.generate(req))
    assert isinstance(items[-1], Finish)
    return "".join(i for i in items[:-1]), items[-1]


def test_same_seed_same_text_and_other_seed_differs(runtime):
    a, fa = text_of(runtime)
    assert (a, fa) == text_of(runtime)
    assert len(a) == 80 and fa.reason == "length" and fa.tokens == 80
    assert text_of(runtime, seed=8)[0] != a


def test_stop_sequence_cuts_the_text(runtime):
    full, _ = text_of(runtime, max_tokens=300)
    stop = full[40:42]
    cut, finish = text_of(runtime, max_tokens=300, stop=(stop,))
    assert finish.reason == "stop" and cut == full[: full.index(stop)]
    assert finish.tokens == full.index(stop) + len(stop)


def test_prefill_graph_equals_stepping(runtime):
    # int8 graphs quantize their activations per call, so a prompt read at once and read step by step round
    # differently: 0.03 apart in logits of magnitude 15 on the committed int8 version.
    atol = (0.1, 0.1) if runtime.manifest.quantization else (1e-4, 1e-5)
    ids = runtime.encode("First Citizen:\nBefore we proceed")[None]
    logits_a, (h_a, c_a) = runtime.prefill(ids, runtime.initial_state(1))
    state = runtime.initial_state(1)
    for t in range(ids.shape[1]):
        logits_b, state = runtime.step(ids[:, t], state)
    np.testing.assert_allclose(logits_a, logits_b, atol=atol[0])
    np.testing.assert_allclose(h_a, state[0], atol=atol[1])


def test_out_of_vocabulary_prompt_lists_the_characters(runtime):
    with pytest.raises(InvalidInput, match=r"outside the model's vocabulary: \['é', '€'\]"):
        runtime.encode("ROMEO: café €")


def test_stats_return_to_idle(runtime):
    before = runtime.stats.steps
    it = runtime.generate(GenerationRequest("KING:", 500, SamplingParams(), seed=1))
    next(it), next(it)
    assert runtime.stats.active == 1
    it.close()  # the consumer went away
    assert runtime.stats.active == 0 and runtime.stats.steps - before < 10


def test_typographic_punctuation_reads_as_the_plain_characters(runtime):
    typed = "ROMEO:\r\nO\u00a0Juliet\u2014thou\u2019rt \u2018fair\u2019\u2026"
    assert (runtime.encode(typed) == runtime.encode("ROMEO:\nO Juliet-thou'rt 'fair'...")).all()
    with pytest.raises(InvalidInput, match="vocabulary: \\['\u201c', '\u201d'\\]"):
        runtime.encode("\u201cquoted\u201d is refused: the vocabulary has no double quote")
