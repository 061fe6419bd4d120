"""`dlserve train|export|evaluate <model>`: the training side of the command line (needs the `train` extra)."""

from __future__ import annotations

import argparse
import importlib

# model name -> task module in training/tasks/
TASKS = {
    "lenet5-mnist": "training.tasks.lenet_mnist",
    "charlstm-shakespeare": "training.tasks.charlstm_shakespeare",
    "gru-en-fr": "training.tasks.gru_en_fr",
    "gru-en-de": "training.tasks.gru_en_de",
    "captioner-flickr8k": "training.tasks.captioner_flickr8k",
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    for command, help_text in (
        ("train", "train a model from its dataset (checkpoints every epoch; --resume continues)"),
        ("export", "export a trained checkpoint to ONNX, check parity, write the manifest"),
        ("evaluate", "evaluate an exported model on its test split with onnxruntime"),
    ):
        p = sub.add_parser(command, help=help_text, description=help_text)
        models = p.add_subparsers(dest="model", required=True, metavar="MODEL", help=f"one of: {', '.join(TASKS)}")
        for name in TASKS:
            models.add_parser(name, help=f"{command} {name}")


def run(command: str, model: str, argv: list[str]) -> None:
    """Parse the task's own options and run it; imports torch only here.

    Under torchrun, `train` joins the process group and trains data-parallel (training/distributed.py);
    `export` and `evaluate` run on rank 0 alone, the other ranks having nothing to do.
    """
    from training import distributed

    task = importlib.import_module(TASKS[model])
    parsers = {c: argparse.ArgumentParser(prog=f"dlserve {c} {model}") for c in ("train", "export", "evaluate")}
    task.add_arguments(parsers["train"], parsers["export"], parsers["evaluate"])
    args = parsers[command].parse_args(argv)
    if command != "train":
        if distributed.env_rank() == 0:
            getattr(task, command)(args)
        return
    if distributed.env_world_size() > 1 and not getattr(task, "DATA_PARALLEL", False):
        raise SystemExit(f"dlserve train {model} does not support torchrun yet: run it as a single process")
    with distributed.session():
        task.train(args)
