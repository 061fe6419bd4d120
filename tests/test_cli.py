"""The `dlserve` command line: help on every command, and the repository listing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], "serve"),
        (["serve", "--help"], "DLSERVE_"),
        (["models", "--help"], "--json"),
        (["train", "--help"], "lenet5-mnist"),
        (["train", "lenet5-mnist", "--help"], "--max-steps"),
        (["export", "lenet5-mnist", "--help"], "--checkpoint"),
        (["evaluate", "lenet5-mnist", "--help"], "--eval-limit"),
    ],
)
def test_help(args, expected):
    result = run(*args)
    assert result.returncode == 0 and expected in result.stdout, result.stdout + result.stderr


def test_models_lists_status_and_metrics(models_dir):
    result = run("models", "--json", "--model-dir", str(models_dir))
    assert result.returncode == 0, result.stderr
    models = {m["name"]: m for m in json.loads(result.stdout)}
    assert models["lenet5-mnist"]["status"] == "ready"
    assert models["lenet5-mnist"]["metrics"]["test_error"] <= 0.0095


def test_unknown_model_is_refused():
    result = run("train", "resnet-imagenet")
    assert (
        result.returncode != 0
        and "available: alexnet-cifar10, captioner-flickr8k, charlstm-shakespeare, gru-en-de, gru-en-fr, image-folder, "
        "lenet5-mnist"
        in result.stderr
    )


def test_a_command_group_that_cannot_be_imported_is_offered_not_broken(monkeypatch, capsys):
    from importlib.metadata import EntryPoint

    from service import cli

    missing = {"train": EntryPoint(name="train", value="no_such_training_pkg", group=cli.PLUGINS)}
    monkeypatch.setattr(cli, "plugin_commands", lambda: missing)
    help_text = cli.build_parser().format_help()
    assert "train" in help_text and "(needs no_such_training_pkg with its extra" in help_text
    with pytest.raises(SystemExit) as exited:
        cli.main(["train", "lenet5-mnist"])
    assert "dlserve train needs no_such_training_pkg with its extra (pip install 'dlserve[train]')" in str(exited.value)
