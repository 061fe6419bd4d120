"""`dlserve train|export|evaluate <model>`: the models are the registered tasks, found without torch until a
training command needs them."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from training.cli import TASKS, add_commands
from training.tasks.base import Task

REPO = Path(__file__).resolve().parents[2]


def test_tasks_are_the_registered_models_in_listing_order():
    assert list(TASKS) == [
        "alexnet-cifar10", "captioner-flickr8k", "charlstm-shakespeare", "gru-en-de", "gru-en-fr", "image-folder",
        "lenet5-mnist",
    ]  # fmt: skip
    assert len(TASKS) == 7 and "gru-en-de" in TASKS and "resnet-imagenet" not in TASKS
    assert all(isinstance(t, type) and issubclass(t, Task) and t.name == n for n, t in TASKS.items())


def test_the_service_command_line_builds_without_importing_torch():
    code = (
        "import sys, service.cli; service.cli.build_parser(); "
        "print(sorted(m for m in ('torch', 'training.tasks', 'training.tasks.base') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_commands_take_a_registered_model():
    parser = argparse.ArgumentParser(prog="dlserve", exit_on_error=False)
    add_commands(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["export", "gru-en-fr"]).model == "gru-en-fr"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "resnet-imagenet"])
    help_text = parser._subparsers._group_actions[0].choices["train"].format_help()
    assert "one of: alexnet-cifar10, captioner-flickr8k, " in " ".join(help_text.split())
