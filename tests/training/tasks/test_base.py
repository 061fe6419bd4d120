"""The task base: a toy task declared in a few lines trains, resumes, exports the shared manifest and evaluates;
tasks register by model name, and a task that is not one the service serves is refused."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.checksums import file_sha256
from core.manifest import Manifest
from training import optim
from training.export import cpu_session, export_onnx
from training.tasks.base import Task, registered

ROWS = 64


@dataclass
class ToyConfig:
    inputs: int = 4
    classes: int = 3


class ToyNet(nn.Module):
    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.fc = nn.Linear(config.inputs, config.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)  # (B, classes)


class Toy(Task, name="toy-linear", task="classify", register=False):
    description = "a linear classifier of four numbers"
    model_class, config_class = ToyNet, ToyConfig
    epochs, lr, batch_size = 2, 0.1, 8

    def setup(self) -> None:
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(ROWS, 4, generator=g)
        self.y = self.x[:, :3].argmax(1)

    def model_config(self) -> ToyConfig:
        return ToyConfig()

    def steps_per_epoch(self) -> int:
        return optim.steps_per_epoch(ROWS, self.args.batch_size)

    def batches(self, epoch: int):
        for i in range(0, ROWS, self.args.batch_size):
            yield self.x[i : i + self.args.batch_size], self.y[i : i + self.args.batch_size]

    def loss(self, model: nn.Module, batch):
        x, y = batch
        return F.cross_entropy(model(x), y), {}

    def validate(self, model: nn.Module) -> dict[str, float]:
        return {"val_error": (model(self.x).argmax(1) != self.y).float().mean().item()}

    def export_graphs(self, model: nn.Module, out: Path) -> dict[str, Path]:
        axes = {"x": {0: "batch"}, "logits": {0: "batch"}}
        export_onnx(model, (torch.zeros(2, 4),), out / "model.onnx", ["x"], ["logits"], axes)
        return {"model": out / "model.onnx"}

    def manifest_extras(self, model: nn.Module, out: Path) -> dict:
        return {"labels": ["a", "b", "c"], "metrics": {"test_rows": len(self.limited(list(range(10))))}}

    def reference(self, model: nn.Module, out: Path):
        return "model", {"x": np.ones((2, 4), np.float32)}

    def dataset(self) -> dict:
        return {"name": "four random numbers"}

    def test_scores(self, folder: Path, manifest: dict) -> dict:
        return {"labels": len(manifest["labels"]), "rows": len(self.limited(list(range(10))))}


def toy(command: str, *argv: str) -> Toy:
    return Toy(Toy.parser(command).parse_args(list(argv)))


def train(run: Path, *argv: str):
    return toy("train", "--run-dir", str(run), "--no-progress", *argv).train()


def test_train_checkpoints_records_the_run_and_resumes(tmp_path):
    history = train(tmp_path / "run", "--max-steps", "8")  # stops after the first of two epochs
    assert history.steps == 8 and [e["epoch"] for e in history.epochs] == [1]
    assert "val_error" in history.epochs[0]
    record = json.loads((tmp_path / "run" / "train_args.json").read_text())
    assert record == {"batch_size": 8, "lr": 0.1, "optimizer": "AdamW + OneCycleLR"}
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert ckpt["config"] == asdict(ToyConfig()) and ckpt["scheduler"]["total_steps"] == 16  # 2 epochs of 8
    resumed = train(tmp_path / "run", "--resume")
    assert resumed.steps == 16 and [e["epoch"] for e in resumed.epochs] == [1, 2]
    assert resumed.epochs[0] == history.epochs[0]  # the first epoch is the interrupted run's
    assert train(tmp_path / "straight").epochs[1]["train_loss"] == resumed.epochs[1]["train_loss"]
    final, straight = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False) for d in ("run", "straight"))
    for name, tensor in straight["state_dict"].items():  # resuming lands exactly where one run does
        torch.testing.assert_close(final["state_dict"][name], tensor, rtol=0, atol=0)


def test_dry_run_is_five_steps_of_one_epoch(tmp_path):
    history = train(tmp_path / "run", "--dry-run", "--epochs", "9")
    assert history.steps == 5 and len(history.epochs) == 1


def test_export_writes_what_every_manifest_shares(tmp_path):
    train(tmp_path / "run")
    out = tmp_path / "models" / "toy-linear" / "3"
    manifest = toy("export", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(out),
                   "--eval-limit", "4").export()  # fmt: skip
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert (manifest["name"], manifest["version"], manifest["task"]) == ("toy-linear", 3, "classify")
    assert manifest["description"] == "a linear classifier of four numbers"
    graph = manifest["graphs"]["model"]
    assert graph["file"] == "model.onnx" and graph["sha256"] == file_sha256(out / "model.onnx")
    assert graph["inputs"] == [{"name": "x", "dtype": "float32", "shape": [-1, 4]}]
    assert manifest["labels"] == ["a", "b", "c"] and manifest["metrics"] == {"test_rows": 4}  # the task's extras
    assert manifest["dataset"] == {"name": "four random numbers"}
    assert manifest["batching"] == {"max_batch_size": 64, "max_delay_ms": 2}
    training = manifest["training"]
    assert training["steps"] == 16 and training["epochs"] == 2 and training["lr"] == 0.1
    assert training["model_config"] == {"inputs": 4, "classes": 3} and len(training["history"]) == 2
    assert manifest["code_commit"] != ""
    ref = manifest["reference"]
    (expected,) = cpu_session(out / "model.onnx").run(None, {"x": np.ones((2, 4), np.float32)})
    assert ref["graph"] == "model" and np.array_equal(np.array(ref["outputs"]["logits"]["data"], np.float32), expected)
    assert Manifest.model_validate(manifest).graphs["model"].sha256 == graph["sha256"]  # the service's schema
    assert (out / "curves.json").is_file()  # the learning curves of its training history


def test_version_of_a_folder_not_named_by_a_number_is_one(tmp_path):
    train(tmp_path / "run")
    manifest = toy("export", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "x"))
    assert manifest.export()["version"] == 1


def test_evaluate_prints_the_scores_as_one_json_line(tmp_path, capsys):
    train(tmp_path / "run")
    out = tmp_path / "m"
    toy("export", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(out)).export()
    capsys.readouterr()
    scores = toy("evaluate", "--out", str(out), "--eval-limit", "7").evaluate()
    assert scores == {"model": "toy-linear", "labels": 3, "rows": 7}
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == scores


def test_missing_checkpoint_says_how_to_make_one(tmp_path):
    task = toy("export", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m"))
    with pytest.raises(FileNotFoundError, match="dlserve train toy-linear"):
        task.export()


def test_options_are_the_common_ones_and_the_tasks():
    class WithOption(Toy, register=False):
        @classmethod
        def add_train_args(cls, p):
            p.add_argument("--width", type=int, default=7)

    args = WithOption.parser("train").parse_args([])
    assert (args.epochs, args.lr, args.batch_size, args.width, args.max_steps, args.dry_run) == (
        2,
        0.1,
        8,
        7,
        None,
        False,
    )
    assert WithOption.parser("export").parse_args([]).eval_limit is None
    with pytest.raises(ValueError, match="allowed: train, export, evaluate"):
        Toy.parser("serve")


def test_limited_cuts_to_eval_limit():
    assert toy("evaluate", "--eval-limit", "2").limited([5, 6, 7]) == [5, 6]
    assert toy("evaluate").limited([5, 6, 7]) == [5, 6, 7]


def test_the_repository_tasks_register_by_model_name():
    tasks = registered()
    assert list(tasks) == [
        "alexnet-cifar10", "captioner-flickr8k", "charlstm-shakespeare", "gru-en-de", "gru-en-fr", "image-folder",
        "lenet5-mnist",
    ]  # fmt: skip
    assert [t.task for t in tasks.values()] == [
        "classify", "caption", "generate", "translate", "translate", "classify", "classify"
    ]  # fmt: skip
    assert all(t.name == name for name, t in tasks.items())
    assert "toy-linear" not in tasks  # register=False


def test_registration_refuses_a_missing_task_and_taken_names(monkeypatch):
    registered()  # the real tasks are imported (and so registered) whichever tests ran before
    monkeypatch.setattr(Task, "registry", dict(Task.registry))
    with pytest.raises(TypeError, match='Segmenter: say which task the model serves, e.g. task="classify"'):

        class Segmenter(Task, name="unet-voc"):
            pass

    with pytest.raises(TypeError, match="model name 'lenet5-mnist' is taken by training.tasks.lenet_mnist"):

        class Other(Task, name="lenet5-mnist", task="classify"):
            pass

    class Family(Task, task="translate"):  # no name: a family of tasks, not one model
        pass

    class Member(Family, name="member-model"):
        pass

    class Variant(Member):  # a subclass that names no model of its own registers nothing
        pass

    assert Task.registry["member-model"] is Member and Member.task == "translate"
    assert Family not in Task.registry.values() and Variant not in Task.registry.values()


def test_export_refuses_a_manifest_the_service_would_refuse(tmp_path, monkeypatch):
    train(tmp_path / "run")
    task = toy("export", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "m"))
    extras = task.manifest_extras
    monkeypatch.setattr(
        task, "manifest_extras", lambda model, out: {**extras(model, out), "preprocessing": {"kind": "sepia"}}
    )
    with pytest.raises(
        ValueError, match="(?s)toy-linear: the manifest does not match core/manifest.py: .*'mnist-digit', 'photo'"
    ):
        task.export()
    assert not (tmp_path / "m" / "manifest.json").exists()


def test_snapshots_keep_the_last_epochs_and_export_averages_them(tmp_path):
    run = tmp_path / "run"
    train(run, "--epochs", "4", "--keep-snapshots", "3")
    kept = sorted(p.name for p in run.glob("weights-epoch*.pt"))
    assert kept == ["weights-epoch002.pt", "weights-epoch003.pt", "weights-epoch004.pt"]
    weights = [torch.load(run / name, weights_only=True) for name in kept]
    final = torch.load(run / "checkpoint.pt", weights_only=False)["state_dict"]
    assert torch.equal(weights[-1]["fc.weight"], final["fc.weight"])  # the last snapshot is the checkpoint's
    ckpt = ["--checkpoint", str(run / "checkpoint.pt")]
    averaged = toy("export", *ckpt, "--average-last", "3").load()
    expected = torch.stack([w["fc.weight"] for w in weights]).mean(0)
    torch.testing.assert_close(averaged.fc.weight.detach(), expected)
    assert not torch.equal(averaged.fc.weight.detach(), final["fc.weight"])
    out = tmp_path / "models" / "toy-linear" / "1"
    manifest = toy("export", *ckpt, "--average-last", "2", "--out", str(out)).export()
    assert manifest["training"]["averaged_epochs"] == [3, 4]
    plain = toy("export", *ckpt, "--out", str(tmp_path / "plain")).export()
    assert "averaged_epochs" not in plain["training"]


def test_averaging_more_epochs_than_were_kept_says_how_to_keep_them(tmp_path):
    train(tmp_path / "run", "--keep-snapshots", "1")
    with pytest.raises(SystemExit, match="kept 1 epoch snapshot.*--keep-snapshots"):
        toy("export", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--average-last", "2").load()
    with pytest.raises(SystemExit):  # argparse: not a positive number
        toy("export", "--average-last", "0")
