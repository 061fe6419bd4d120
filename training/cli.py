"""`dlserve train|export|evaluate <model>`: the training side of the command line (needs the `train` extra).

The models are the tasks of training/tasks (training/tasks/base.py), found by importing that package. That
imports torch, so it happens only when a training command needs the list: `dlserve serve` builds its parser
without it. Without torch installed, importing this module raises ImportError, and the `dlserve` command
offers the training commands as needing the train extra.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if importlib.util.find_spec("torch") is None:
    raise ImportError("torch is not installed")

if TYPE_CHECKING:
    from training.tasks.base import Task


class _Tasks(Mapping[str, "type[Task]"]):
    """Model name -> task class, read from the task registry the first time it is used."""

    def _tasks(self) -> dict[str, type[Task]]:
        from training.tasks.base import registered

        return registered()

    def __getitem__(self, name: str) -> type[Task]:
        return self._tasks()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks())

    def __len__(self) -> int:
        return len(self._tasks())


TASKS: Mapping[str, type[Task]] = _Tasks()


def add_commands(sub: argparse._SubParsersAction) -> None:
    for command, help_text in (
        ("train", "train a model from its dataset (checkpoints every epoch; --resume continues)"),
        ("export", "export a trained checkpoint to ONNX, check parity, write the manifest"),
        ("evaluate", "evaluate an exported model on its test split with onnxruntime"),
    ):
        p = sub.add_parser(command, help=help_text, description=help_text)
        # The choices are listed (and the tasks imported) only when this help is printed or a model is checked.
        p.add_argument("model", metavar="MODEL", choices=TASKS, help="one of: %(choices)s")


def run(command: str, model: str, argv: list[str]) -> None:
    """Parse the task's own options and run it; imports torch only here.

    Under torchrun, `train` joins the process group and trains data-parallel (training/distributed.py);
    `export` and `evaluate` run on rank 0 alone, the other ranks having nothing to do.
    """
    from training import distributed

    cls = TASKS[model]
    task = cls(cls.parser(command).parse_args(argv))
    if command != "train":
        if distributed.env_rank() == 0:
            getattr(task, command)()
        return
    if distributed.env_world_size() > 1 and not cls.data_parallel:
        raise SystemExit(f"dlserve train {model} does not support torchrun yet: run it as a single process")
    with distributed.session():
        task.train()
