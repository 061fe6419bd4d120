"""Data-parallel training: batch sharding, and real 2-process runs under torchrun (Gloo, CPU) against one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training import distributed

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ddp_worker.py")


# --- shard ---------------------------------------------------------------------------------------------------------


def _as_rank(monkeypatch: pytest.MonkeyPatch, rank: int, world: int) -> None:
    monkeypatch.setattr(distributed, "rank", lambda: rank)
    monkeypatch.setattr(distributed, "world_size", lambda: world)


def test_shard_alone_is_the_whole_batch() -> None:
    batch = torch.tensor([5, 3, 9])
    assert torch.equal(distributed.shard(batch), batch)
    assert distributed.shard((1, 2, 3)) == [1, 2, 3]


def test_shards_of_a_divisible_batch_are_that_batch(monkeypatch) -> None:
    batch = list(range(10, 22))
    shares = []
    for rank in range(4):
        _as_rank(monkeypatch, rank, 4)
        shares.append(distributed.shard(batch))
    assert [len(s) for s in shares] == [3, 3, 3, 3]
    assert sorted(x for s in shares for x in s) == batch
    assert shares[1] == [11, 15, 19]  # every 4th item from this rank's offset, as DistributedSampler


def test_short_batches_are_padded_so_every_rank_steps_together(monkeypatch) -> None:
    batch = torch.tensor([7, 8, 9])
    shares = []
    for rank in range(2):
        _as_rank(monkeypatch, rank, 2)
        shares.append(distributed.shard(batch).tolist())
    assert shares == [[7, 9], [8, 7]]  # wrapped around to 4 items
    _as_rank(monkeypatch, 2, 3)
    assert distributed.shard([1]) == [1]  # one item, three ranks: each gets it
    with pytest.raises(ValueError, match="empty"):
        distributed.shard([])


def test_helpers_without_a_process_group() -> None:
    assert not distributed.active()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.device() == torch.device("cpu")
    assert distributed.mean({"loss": 2.5}) == {"loss": 2.5}
    obj = {"ids": [[1, 2]]}
    assert distributed.broadcast(obj) is obj
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model) is model
    distributed.check_replicas(model)  # no-op


# --- real processes ------------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # the ranks talk over the loopback interface
    env["OMP_NUM_THREADS"] = "1"  # as torchrun sets it: two ranks on two cores, and one process alike
    return env


def _run(args: list[str], nproc: int, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    launcher = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                    "--nproc_per_node", str(nproc)]  # fmt: skip
    result = subprocess.run(
        [*launcher, *args], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{args} with {nproc} process(es) failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return result


@pytest.mark.slow
def test_two_replicas_stay_identical_and_match_one_process(tmp_path: Path) -> None:
    (tmp_path / "ddp").mkdir()
    (tmp_path / "one").mkdir()
    two = _run([str(WORKER), str(tmp_path / "ddp"), "32"], nproc=2)
    _run([str(WORKER), str(tmp_path / "one"), "32"], nproc=1)
    r0, r1 = (torch.load(tmp_path / "ddp" / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    one = torch.load(tmp_path / "one" / "rank0.pt", weights_only=False)
    assert (r0["world"], r1["world"], one["world"]) == (2, 2, 1)
    assert r0["broadcast"] == r1["broadcast"] == {"from_rank": 0}  # rank 0's object on every rank
    for name, tensor in r0["state_dict"].items():
        assert torch.equal(tensor, r1["state_dict"][name]), f"replicas differ in {name}"
        torch.testing.assert_close(tensor, one["state_dict"][name], rtol=1e-5, atol=1e-6)
    # Each rank trained on 16 rows of every 32-row global batch; the logged loss is the global batch's.
    assert [e["train_rows"] for e in r0["history"]["epochs"]] == [16.0, 16.0]
    assert [e["train_rows"] for e in one["history"]["epochs"]] == [32.0, 32.0]
    assert r0["history"]["steps"] == one["history"]["steps"] == 16
    for ddp_epoch, one_epoch in zip(r0["history"]["epochs"], one["history"]["epochs"], strict=True):
        assert ddp_epoch["train_loss"] == pytest.approx(one_epoch["train_loss"], rel=1e-5)
        assert ddp_epoch["full_loss"] == pytest.approx(one_epoch["full_loss"], rel=1e-5)
    assert "full_loss" not in r1["history"]["epochs"][0]  # rank 0 alone evaluates
    # rank 0 alone logs: one line per epoch, not one per rank
    assert sum(line.startswith('{"epoch"') for line in two.stdout.splitlines()) == 2
    assert (tmp_path / "ddp" / "run" / "checkpoint.pt").is_file()


@pytest.mark.slow
def test_dlserve_train_runs_unchanged_under_torchrun(tmp_path: Path, data_dir: Path) -> None:
    """`dlserve train lenet5-mnist` on 2 Gloo ranks: the same losses and weights as one process."""
    common = ["lenet5-mnist", "--dry-run", "--no-augment", "--no-progress", "--batch-size", "64", "--max-steps", "4",
              "--data-dir", str(data_dir)]  # fmt: skip
    two = _run(["-m", "service.cli", "train", *common, "--run-dir", str(tmp_path / "ddp")], nproc=2)
    _run(["-m", "service.cli", "train", *common, "--run-dir", str(tmp_path / "one")], nproc=1)
    assert two.stdout.count("done: 4 steps") == 1, two.stdout  # rank 0 alone says it
    ddp, one = (json.loads((tmp_path / d / "history.json").read_text()) for d in ("ddp", "one"))
    assert ddp["steps"] == one["steps"] == 4
    (d_epoch,), (o_epoch,) = ddp["epochs"], one["epochs"]
    assert d_epoch["train_loss"] == pytest.approx(o_epoch["train_loss"], rel=1e-4)
    assert d_epoch["train_acc"] == pytest.approx(o_epoch["train_acc"], abs=1e-6)
    assert d_epoch["test_error"] == pytest.approx(o_epoch["test_error"], abs=2 / 256)
    ckpt_ddp, ckpt_one = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False) for d in ("ddp", "one"))
    assert list(ckpt_ddp["state_dict"]) == list(ckpt_one["state_dict"])  # plain names, no DDP "module." prefix
    for name, tensor in ckpt_ddp["state_dict"].items():
        torch.testing.assert_close(tensor, ckpt_one["state_dict"][name], rtol=1e-4, atol=1e-5)
    assert json.loads((tmp_path / "ddp" / "train_args.json").read_text())["batch_size"] == 64


def test_tasks_without_data_parallel_support_refuse_torchrun(monkeypatch) -> None:
    from training.cli import TASKS, run

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit, match="captioner-flickr8k does not support torchrun yet"):
        run("train", "captioner-flickr8k", [])
    supported = {name for name, task in TASKS.items() if task.data_parallel}
    assert supported == {"lenet5-mnist", "charlstm-shakespeare", "gru-en-fr", "gru-en-de"}
