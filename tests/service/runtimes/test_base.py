"""The runtime contract: runtimes register by task, a manifest may name its own by import path, an unknown task
names the known ones, and the engine kind follows what a runtime declares."""

from __future__ import annotations

import json
import sys
import types

import pytest
from tests_support import MODELS

from core.manifest import Manifest
from service.runtimes.base import ModelRuntime, runtime_class
from service.runtimes.captioner import CaptionerRuntime
from service.runtimes.classifier import ClassifierRuntime
from service.runtimes.generator import GeneratorRuntime
from service.runtimes.translator import TranslatorRuntime


def manifest(**changes) -> Manifest:
    data = json.loads((MODELS / "lenet5-mnist" / "1" / "manifest.json").read_text())
    return Manifest.model_validate({**data, **changes})


def test_builtin_runtimes_are_found_by_their_task():
    for task, cls in (("classify", ClassifierRuntime), ("generate", GeneratorRuntime),
                      ("translate", TranslatorRuntime), ("caption", CaptionerRuntime)):  # fmt: skip
        assert runtime_class(manifest(task=task)) is cls


def test_an_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"task 'dance' has no runtime; known tasks: \['caption', 'classify', "):
        runtime_class(manifest(task="dance"))


def test_a_manifest_names_its_own_runtime_by_import_path(monkeypatch):
    module = types.ModuleType("my_runtimes")

    class Mine(ClassifierRuntime, register=False):
        pass

    module.Mine, module.NotARuntime = Mine, dict
    monkeypatch.setitem(sys.modules, "my_runtimes", module)
    assert runtime_class(manifest(runtime="my_runtimes:Mine")) is Mine
    assert runtime_class(manifest()) is ClassifierRuntime  # register=False left the task's runtime alone
    with pytest.raises(ValueError, match="'my_runtimes:NotARuntime' is not a ModelRuntime subclass"):
        runtime_class(manifest(runtime="my_runtimes:NotARuntime"))
    with pytest.raises(ValueError, match="'my_runtimes:Missing' cannot be imported"):
        runtime_class(manifest(runtime="my_runtimes:Missing"))
    with pytest.raises(ValueError, match="'nowhere.at_all:X' cannot be imported: No module named 'nowhere'"):
        runtime_class(manifest(runtime="nowhere.at_all:X"))


def test_a_second_runtime_for_a_task_is_refused():
    with pytest.raises(TypeError, match="task 'classify' is already served by service.runtimes.classifier"):

        class Another(ModelRuntime):
            task = "classify"


def test_engine_kind_follows_the_declarations():
    assert ClassifierRuntime.engine_kind() == "batch"
    assert GeneratorRuntime.engine_kind() == TranslatorRuntime.engine_kind() == "steps"
    assert CaptionerRuntime.engine_kind() == "batch+steps"
    assert ModelRuntime.engine_kind() == "direct"
