"""The training task: one class per model, whose base runs `dlserve train|export|evaluate <model>`.

A task declares its model in the class statement and fills in hooks; the base does the rest, the same way for
every model:

    class LeNetMnist(Task, name="lenet5-mnist", task="classify"):  # the model name, and the manifest's task
        description = "LeNet-5 handwritten digit classifier"
        data_parallel = True  # trains under torchrun, each rank taking its share of every batch
        model_class, config_class = LeNet5, LeNetConfig
        epochs, lr, batch_size = 40, 2e-3, 128  # the defaults of --epochs, --lr and --batch-size

train:     setup() -> build_model() -> optimizer() -> Trainer.fit(batches, loss, validate) -> run_record()
export:    load() -> export_graphs(model, out) -> manifest_extras(model, out) -> reference(model, out) -> manifest
evaluate:  test_scores(folder, manifest) -> one JSON line

- `setup` reads the training data; `build_model` is `model_class(model_config())`; `optimizer` is AdamW under a
  one-cycle schedule over `schedule_steps` (training/optim.py); the generic Trainer (training/trainer.py) seeds,
  checkpoints every epoch (--keep-snapshots: the last K epochs' weights too), resumes (--resume) and stops early
  (--dry-run, --max-steps). `run_record` is saved next to the checkpoint and lands in the training record.
- `load` rebuilds the model from its checkpoint (`weights`: with --average-last K, the mean of K snapshots; with
  --from-version N, version N's weights read back from its graphs, training/reexport.py). `export_graphs` writes
  the ONNX graphs, by manifest key; `manifest_extras` checks their parity with PyTorch, measures them, and gives
  the task's own manifest fields (metrics, parity, preprocessing, vocabularies...). The base writes what every
  manifest shares: name, version (the out folder's name), task, description, graphs (file, sha256, inputs,
  outputs), dataset(), training_record(), code_commit, the reference pair and batching.
- `test_scores` measures an exported model folder on the test split; `limited` cuts a split to --eval-limit.
  export --quantize int8 (training/quantize.py) scores a float folder and its int8 copy with it, times both with
  `workload`, and serves the copy by default when it meets `quantized_goal`.

Options: every task has the common ones (training/tasks/common.py); `add_train_args` and `add_export_args` add
its own. A task that is not one Trainer run (the captioner trains in stages) overrides `train` itself.
A class statement that names a model registers it; `registered()` imports training/tasks and lists the tasks.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from pydantic import ValidationError
from torch import nn

from core.graph_specs import cpu_session, graph_entry, reference_pair
from core.manifest import Manifest
from training import distributed, optim, quantize, reexport
from training.export import code_commit, write_manifest
from training.paths import MODELS_DIR, RUNS_DIR, default_data_dir
from training.tasks import common
from training.trainer import Batch, History, Trainer, TrainerConfig, average_last

S = TypeVar("S")


class Task:
    """One model's training, export and evaluation: subclasses name it, set class attributes, override hooks."""

    name: ClassVar[str] = ""
    task: ClassVar[str] = ""
    description: ClassVar[str] = ""
    data_parallel: ClassVar[bool] = False
    model_class: ClassVar[Any] = None
    config_class: ClassVar[Any] = None
    epochs: ClassVar[int] = 10
    lr: ClassVar[float] = 1e-3
    batch_size: ClassVar[int] = 64
    weight_decay: ClassVar[float] = 1e-4
    warmup: ClassVar[float] = 0.3  # share of the one-cycle schedule spent warming up
    grad_clip: ClassVar[float | None] = None  # max global gradient norm
    batching: ClassVar[dict[str, float]] = {"max_batch_size": 64, "max_delay_ms": 2}
    keep_snapshots: ClassVar[int] = 0  # the default of --keep-snapshots: epochs whose weights export can average
    default: ClassVar[bool] = False  # the model its task serves when a request names none (manifest "default")
    quantized_goal: ClassVar[quantize.Goal] = quantize.Goal()  # what an int8 version keeps to serve by default
    registry: ClassVar[dict[str, type[Task]]] = {}

    def __init_subclass__(cls, name: str = "", task: str = "", register: bool = True, **kwargs: Any) -> None:
        """`class LeNetMnist(Task, name="lenet5-mnist", task="classify")` declares and registers a model's task;
        without a name it is a family of tasks (the translators) that subclasses name."""
        super().__init_subclass__(**kwargs)
        cls.task, cls.name = task or cls.task, name or cls.name
        if name and register:  # register=False: a test's throwaway task
            if not cls.task:  # which runtime serves it is the service's business: it reads the manifest's task
                raise TypeError(f'{cls.__qualname__}: say which task the model serves, e.g. task="classify"')
            taken = Task.registry.setdefault(name, cls)
            if taken.__qualname__ != cls.__qualname__:  # the same class imported again is no clash
                raise TypeError(f"model name {name!r} is taken by {taken.__module__}.{taken.__qualname__}")
            Task.registry[name] = cls

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args  # the parsed options of `dlserve <command> <name>`

    @classmethod
    def parser(cls, command: str) -> argparse.ArgumentParser:
        """The options of `dlserve <command> <name>`: the common ones, then the task's own."""
        p = argparse.ArgumentParser(prog=f"dlserve {command} {cls.name}")
        if command == "train":
            common.add_train_args(p, cls.epochs, cls.lr, cls.batch_size, cls.keep_snapshots)
            cls.add_train_args(p)
        elif command in ("export", "evaluate"):
            common.add_export_args(p, cls.name, command)
            cls.add_export_args(p, command)
        else:
            raise ValueError(f"unknown command {command!r}; allowed: train, export, evaluate")
        return p

    @classmethod
    def add_train_args(cls, p: argparse.ArgumentParser) -> None:
        """The task's own options of `dlserve train`."""

    @classmethod
    def add_export_args(cls, p: argparse.ArgumentParser, command: str) -> None:
        """The task's own options of `dlserve export` and `dlserve evaluate` (`command` says which)."""

    @property
    def data_dir(self) -> Path:
        return self.args.data_dir or default_data_dir()

    @property
    def run_dir(self) -> Path:  # where training checkpoints (--run-dir, default runs/<name>)
        return getattr(self.args, "run_dir", None) or RUNS_DIR / self.name

    @property
    def checkpoint_path(self) -> Path:
        return self.args.checkpoint or self.run_dir / "checkpoint.pt"

    @property
    def out_dir(self) -> Path:  # the model folder export writes and evaluate reads (--out, default models/<name>/1)
        return self.args.out or MODELS_DIR / self.name / "1"

    def limited(self, items: S) -> S:  # the first --eval-limit items of an evaluation split; all without it
        return items[: self.args.eval_limit] if self.args.eval_limit else items  # type: ignore[index]

    # --- train ----------------------------------------------------------------------------------------------------

    def train(self) -> History:
        self.setup()
        torch.manual_seed(self.args.seed)
        self.model = self.build_model()
        config = self.trainer_config()
        optimizer, scheduler = self.optimizer(self.model, config.epochs)
        trainer = Trainer(self.model, optimizer, config, self.config, scheduler)
        history = trainer.fit(self.batches, self.loss, self.validate)
        if distributed.is_main():  # rank 0 alone writes files under torchrun
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "train_args.json").write_text(json.dumps(self.run_record()))
            print(f"done: {history.steps} steps in {history.train_seconds:.1f}s")
        return history

    def setup(self) -> None:
        """Read the training data (a subset of it under --dry-run)."""

    def model_config(self) -> Any:
        """The model's config dataclass, from the options (and the data: vocabulary sizes)."""
        raise NotImplementedError(f"{type(self).__name__} builds no model config")

    def build_model(self) -> nn.Module:
        self.config = self.model_config()
        return self.model_class(self.config)

    def trainer_config(self) -> TrainerConfig:
        a = self.args
        steps = (a.max_steps or 5) if a.dry_run else a.max_steps
        return TrainerConfig(
            epochs=1 if a.dry_run else a.epochs, seed=a.seed, max_steps=steps, grad_clip=self.grad_clip,
            checkpoint_dir=self.run_dir, resume=a.resume, progress=not a.no_progress, keep_snapshots=a.keep_snapshots,
        )  # fmt: skip

    def steps_per_epoch(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not say how many steps an epoch has")

    def schedule_steps(self, epochs: int) -> int:
        """How many optimizer steps the learning-rate schedule spans."""
        return epochs * self.steps_per_epoch()

    def optimizer(self, model: nn.Module, epochs: int) -> tuple[torch.optim.Optimizer, Any]:
        steps = self.schedule_steps(epochs)
        return optim.adamw_one_cycle([(model.parameters(), self.args.lr)], self.weight_decay, steps, self.warmup)

    def batches(self, epoch: int) -> Iterable[Batch]:
        """The batches of one epoch (under torchrun, this rank's share of each)."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one batch and metrics to log; `model` is the module trained (DDP-wrapped under torchrun)."""
        raise NotImplementedError

    def validate(self, model: nn.Module) -> dict[str, float]:
        """Scores on held-out data after each epoch (rank 0 alone, under no_grad)."""
        return {}

    def run_record(self) -> dict[str, Any]:
        """The settings of the run, for the manifest's training record."""
        return {"batch_size": self.args.batch_size, "lr": self.args.lr, "optimizer": optim.NAME}

    # --- export and evaluate --------------------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        if getattr(self.args, "quantize", None):  # an int8 copy of an exported version, not of the checkpoint
            return quantize.export_quantized(self)
        model = self.load()  # first: a checkpoint or version that cannot be read leaves no folder behind
        (out := self.out_dir).mkdir(parents=True, exist_ok=True)
        graphs = self.export_graphs(model, out)
        extras = self.manifest_extras(model, out)
        graph, feeds = self.reference(model, out)
        manifest = {
            "name": self.name,
            "version": common.version_of(out),
            "task": self.task,
            "description": self.description,
            "graphs": {key: graph_entry(path) for key, path in graphs.items()},
            **extras,
            "dataset": self.dataset(),
            "training": self.training_record(),
            "code_commit": code_commit(),
            "reference": reference_pair(cpu_session(graphs[graph]), graph, feeds),
            "batching": dict(self.batching),
            **({"default": True} if self.default else {}),
        }
        try:  # the schema the service loads it with: a task cannot write a manifest the service would refuse
            Manifest.model_validate(manifest)
        except ValidationError as e:
            raise ValueError(f"{self.name}: the manifest does not match core/manifest.py: {e}") from None
        write_manifest(out, manifest)
        print(f"wrote {out}")
        return manifest

    @cached_property
    def checkpoint(self) -> dict[str, Any]:
        if version := reexport.source(self):  # export --from-version N: that version's weights
            return reexport.checkpoint(self, version)
        if not (path := self.checkpoint_path).exists():
            raise FileNotFoundError(f"no checkpoint at {path}: train with `dlserve train {self.name}` or --checkpoint")
        return torch.load(path, weights_only=False, map_location="cpu")

    def load(self) -> nn.Module:
        """The trained model, rebuilt from its checkpoint's config and weights, in eval mode."""
        (model := self.model_class(self.config_class(**self.checkpoint["config"]))).load_state_dict(self.weights())
        return model.eval()

    def weights(self) -> dict[str, torch.Tensor]:
        """The checkpoint's weights, or with --average-last K the mean of the last K epochs' snapshots."""
        k = getattr(self.args, "average_last", 1)
        return self.checkpoint["state_dict"] if k == 1 else average_last(self.checkpoint_path.parent, k)[1]

    def export_graphs(self, model: nn.Module, out: Path) -> dict[str, Path]:
        """Write the ONNX graphs (and any files the service needs) into `out`; the graphs by manifest key."""
        raise NotImplementedError

    def manifest_extras(self, model: nn.Module, out: Path) -> dict[str, Any]:
        """Check and measure the exported graphs; the task's own manifest fields (metrics, parity, ...)."""
        return {}

    def reference(self, model: nn.Module, out: Path) -> tuple[str, dict[str, np.ndarray]]:
        """The graph and inputs of the reference pair the service re-runs at load time."""
        raise NotImplementedError

    def workload(self, folder: Path, manifest: dict[str, Any]) -> quantize.Workload:
        """What export --quantize times on the float and the int8 folder (default: the reference graph)."""
        return quantize.reference_workload(folder, manifest)

    def calibration(self, manifest: dict[str, Any]) -> dict[str, np.ndarray] | None:
        """Training inputs on which static int8 measures activation ranges; None (the default): dynamic int8."""
        return None

    def dataset(self) -> dict[str, Any]:
        """The dataset's name and the checksums of the files it was read from."""
        return {}

    def training_record(self) -> dict[str, Any]:
        if "record" in self.checkpoint:  # re-exported from a version: the record that version carries
            return self.checkpoint["record"]
        run = self.checkpoint_path.parent / "train_args.json"
        record = common.training_record(self.checkpoint, json.loads(run.read_text()) if run.exists() else {})
        if (k := getattr(self.args, "average_last", 1)) > 1:
            record["averaged_epochs"] = average_last(self.checkpoint_path.parent, k)[0]
        return record

    def evaluate(self) -> dict[str, Any]:
        manifest = json.loads((self.out_dir / "manifest.json").read_text())
        print(json.dumps(scores := {"model": self.name, **self.test_scores(self.out_dir, manifest)}))
        return scores

    def test_scores(self, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        """The exported model's scores on the test split (--eval-limit items of it)."""
        raise NotImplementedError


def registered() -> dict[str, type[Task]]:
    """Every task in training/tasks by model name (importing its modules registers them), sorted by name."""
    package = importlib.import_module(__package__ or "training.tasks")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return dict(sorted(Task.registry.items()))
