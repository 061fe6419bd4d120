"""Which state keeper a decoder engine picks: bound in onnxruntime under CUDA (or when asked), NumPy on the CPU
by default (measured faster there); beam-search engines hand jobs each row's best tokens, the generator's engine
each row's sampled token."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_support import copy_model

from service.decoding.sampling import StepSampler
from service.decoding.top_k import StepTopK
from service.engine.state import BoundState, HostState
from service.repository import ModelRepository
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
