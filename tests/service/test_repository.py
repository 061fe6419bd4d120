"""The model repository: a broken model is marked failed with its reason while the others still serve."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from tests_support import copy_model, served_version, set_graph_sha256

from service.errors import BadRequest, InvalidInput, ModelNotFound, ModelNotReady
from service.repository import LoadFailed, ModelRepository, Status
from service.settings import Settings

LENET = Path(__file__).resolve().parents[2] / "models" / "lenet5-mnist" / "1"


def load(root: Path, **kw) -> ModelRepository:
    repo = ModelRepository(Settings(model_dir=root, **kw))
    repo.load_all()
    return repo


def test_committed_model_loads_and_passes_its_reference_check():
    repo = load(LENET.parent.parent)
    entry = repo.get("lenet5-mnist")
    assert entry.status == Status.ready, entry.reason
    assert entry.version == served_version("lenet5-mnist") and entry.runtime.provider == "CPUExecutionProvider"
    assert entry.runtime.check_reference() < 1e-4


def test_corrupt_onnx_fails_only_that_model(tmp_path):
    copy_model(tmp_path, "good")
    bad = copy_model(tmp_path, "bad")
    (bad / "model.onnx").write_bytes(b"not an onnx file")
    repo = load(tmp_path)
    assert repo.get("good").status == Status.ready
    assert repo.get("bad").status == Status.failed
    assert "sha256" in repo.get("bad").reason
    assert not repo.is_ready()  # readiness policy "all"
    assert load(tmp_path, readiness="any").is_ready()
    with pytest.raises(ModelNotReady, match="model 'bad' is failed: ArtifactError"):
        repo.serving("classify", "bad")


def test_corrupt_onnx_with_a_matching_checksum_fails_in_onnxruntime(tmp_path):
    bad = copy_model(tmp_path, "bad")
    (bad / "model.onnx").write_bytes((bad / "model.onnx").read_bytes()[:5000])  # truncated protobuf
    set_graph_sha256(bad, "model")  # so the checksum passes and onnxruntime itself has to refuse the file
    entry = load(tmp_path).get("bad")
    assert entry.status == Status.failed
    assert entry.reason.startswith("InvalidProtobuf: [ONNXRuntimeError]"), entry.reason


def test_missing_graph_file_and_missing_version_folder(tmp_path):
    gone = copy_model(tmp_path, "gone")
    (gone / "model.onnx").unlink()
    (tmp_path / "hollow").mkdir()  # a model folder without any version folder
    repo = load(tmp_path)
    assert repo.get("gone").reason == "ArtifactError: graph 'model': file model.onnx is missing"
    assert repo.get("hollow").reason == f"ValueError: no numbered version folder in {tmp_path / 'hollow'}"
    assert {e.status for e in repo.entries.values()} == {Status.failed} and not repo.is_ready()


def test_invalid_manifest_json(tmp_path):
    bad = copy_model(tmp_path, "broken")
    (bad / "manifest.json").write_text("{not json")
    entry = load(tmp_path).get("broken")
    assert entry.status == Status.failed and "not valid JSON" in entry.reason


def test_reference_mismatch_refuses_the_model(tmp_path):
    bad = copy_model(tmp_path, "drifted")
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["reference"]["outputs"]["logits"]["data"][0][0] += 1.0
    (bad / "manifest.json").write_text(json.dumps(manifest))
    entry = load(tmp_path).get("drifted")
    assert entry.status == Status.failed and "reference output 'logits' differs by 1" in entry.reason


def test_unknown_task_and_missing_version(tmp_path):
    odd = copy_model(tmp_path, "odd")
    manifest = json.loads((odd / "manifest.json").read_text())
    manifest["task"] = "dance"
    (odd / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "empty").mkdir()
    repo = load(tmp_path)
    assert (
        "task 'dance' has no runtime; known tasks: ['caption', 'classify', 'generate', 'tensor', 'translate']"
        in repo.get("odd").reason
    )
    assert "no numbered version folder" in repo.get("empty").reason


def test_lookup_errors_name_the_alternatives(tmp_path):
    copy_model(tmp_path, "digits")
    repo = load(tmp_path)
    with pytest.raises(ModelNotFound, match=r"model 'nope' not found; available models: \['digits'\]"):
        repo.get("nope")
    with pytest.raises(InvalidInput, match="'digits' is a classify model, not generate"):
        repo.serving("generate", "digits")
    entry = repo.serving("classify", None)
    assert entry.name == "digits" and entry.runtime.task == "classify"


def add_version(root: Path, name: str, version: int) -> Path:
    """A copy of version 1 as `version` (the folder number is the version)."""
    dest = root / name / str(version)
    shutil.copytree(root / name / "1", dest)
    return dest


def test_startup_serves_the_latest_version_that_loads(tmp_path):
    copy_model(tmp_path, "digits")
    broken = add_version(tmp_path, "digits", 2)
    (broken / "model.onnx").write_bytes(b"corrupt")
    entry = load(tmp_path).get("digits")
    assert entry.status == Status.ready and entry.version == 1
    assert entry.reason.startswith("version 2 failed: ArtifactError: graph 'model': model.onnx has sha256")
    assert entry.reason.endswith("; serving version 1")


def test_startup_leaves_an_opt_in_version_to_a_load_that_names_it(tmp_path):
    copy_model(tmp_path, "digits")
    opt_in = add_version(tmp_path, "digits", 2)
    manifest = json.loads((opt_in / "manifest.json").read_text())
    (opt_in / "manifest.json").write_text(json.dumps({**manifest, "opt_in": True}))
    repo = load(tmp_path)
    assert repo.get("digits").version == 1 and repo.get("digits").reason is None

    async def scenario() -> None:
        assert (await repo.reload("digits")).version == 1
        assert (await repo.reload("digits", version=2)).version == 2
        await repo.stop()

    asyncio.run(scenario())


def test_reload_swaps_in_a_new_entry_and_drains_the_old_engine(tmp_path):
    copy_model(tmp_path, "digits")
    repo = load(tmp_path)

    async def scenario() -> None:
        old = repo.get("digits")
        old.engine.admission.acquire()  # a request still running on version 1
        add_version(tmp_path, "digits", 2)
        new = await repo.reload("digits")
        assert new.version == 2 and new.status == Status.ready and repo.get("digits") is new
        assert old.version == 1 and old.runtime is not None  # untouched: the running request finishes on it
        assert repo.serving("classify", "digits") is new
        with pytest.raises(ModelNotFound, match="model 'digits' version 1 is not served; it serves version 2"):
            repo.serving("classify", "digits", version=1)
        (retiring,) = repo._retiring
        await asyncio.sleep(0.2)
        assert not retiring.done()  # waits for the request in flight
        old.engine.admission.release()
        await asyncio.wait_for(retiring, 2)
        assert (await repo.reload("digits", version=1)).version == 1
        await repo.stop()

    asyncio.run(scenario())


def test_a_failed_load_leaves_the_serving_version_untouched(tmp_path):
    copy_model(tmp_path, "digits")
    repo = load(tmp_path)
    serving = repo.get("digits")
    bad = add_version(tmp_path, "digits", 3)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["reference"]["outputs"]["logits"]["data"][0][0] += 1.0
    (bad / "manifest.json").write_text(json.dumps(manifest))

    async def scenario() -> None:
        with pytest.raises(LoadFailed, match="loading 'digits' version 3 failed: ArtifactError: reference output"):
            await repo.reload("digits")
        with pytest.raises(ModelNotFound, match=r"model 'digits' has no version 9; versions: \[1, 3\]"):
            await repo.reload("digits", version=9)
        assert repo.get("digits") is serving and serving.status == Status.ready and not repo._retiring
        await repo.stop()

    asyncio.run(scenario())


def test_unload_then_load_again(tmp_path):
    copy_model(tmp_path, "digits")
    copy_model(tmp_path, "other")
    repo = load(tmp_path)

    async def scenario() -> None:
        entry = await repo.unload("digits")
        assert entry.status == Status.unloaded and entry.version == 1 and entry.runtime is None
        with pytest.raises(ModelNotReady, match="model 'digits' is unloaded: unloaded on request"):
            repo.serving("classify", "digits")
        assert repo.is_ready()  # an unloaded model does not count against readiness
        assert (await repo.reload("digits")).status == Status.ready
        await repo.stop()

    asyncio.run(scenario())


def test_names_are_validated_and_never_leave_the_model_directory(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    copy_model(models, "digits")
    (tmp_path / "outside").mkdir()
    (models / "escape").symlink_to(tmp_path / "outside")
    repo = load(models)
    assert sorted(repo.entries) == ["digits"]  # the symlinked folder is not discovered either
    for name in ("../outside", "Digits", ".hidden", "a/b", ""):
        with pytest.raises(BadRequest, match="is invalid; names match"):
            repo.model_folder(name)
    with pytest.raises(BadRequest, match="model 'escape' resolves outside the model directory"):
        repo.model_folder("escape")
    with pytest.raises(
        ModelNotFound, match=r"model 'nope' not found in the model directory; models: \['digits', 'escape'\]"
    ):
        repo.model_folder("nope")


def test_a_model_added_while_serving_can_be_loaded(tmp_path):
    copy_model(tmp_path, "digits")
    repo = load(tmp_path)
    copy_model(tmp_path, "newcomer")

    async def scenario() -> None:
        assert (await repo.reload("newcomer")).status == Status.ready
        assert repo.serving("classify", "newcomer").version == 1
        await repo.stop()

    asyncio.run(scenario())


def mark_default(root: Path, name: str, default: bool = True) -> None:
    path = root / name / "1" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "default": default}))


def test_the_default_model_of_a_task_is_explicit(tmp_path):
    for name in ("alexnet-digits", "lenet-digits"):  # alphabetical order must not pick one
        copy_model(tmp_path, name)
        mark_default(tmp_path, name, False)  # copies of the committed default digit model
    with pytest.raises(
        InvalidInput,
        match=r"2 classify models are served and none of them is marked default: name "
        r"one with `model` \(\['alexnet-digits', 'lenet-digits'\]\), or set DLSERVE_DEFAULT_MODELS",
    ):
        load(tmp_path).serving("classify", None)
    mark_default(tmp_path, "lenet-digits")
    assert load(tmp_path).serving("classify", None).name == "lenet-digits"
    chosen = load(tmp_path, default_models={"classify": "alexnet-digits"})
    assert chosen.serving("classify", None).name == "alexnet-digits"  # the setting wins over the manifest
    assert chosen.serving("classify", "lenet-digits").name == "lenet-digits"  # naming a model still works


def test_while_a_model_is_still_loading_the_default_is_not_guessed_from_the_others(tmp_path):
    # Two models of one task, the default still loading: "the only loaded model" would be the wrong one.
    copy_model(tmp_path, "lenet-digits")
    copy_model(tmp_path, "other-digits")
    mark_default(tmp_path, "other-digits", False)
    repo = ModelRepository(Settings(model_dir=tmp_path, providers="cpu"))
    repo.discover()
    repo.load(repo.entries["other-digits"])  # the other one is ready first; lenet-digits is still loading
    with pytest.raises(ModelNotReady, match=r"models \['lenet-digits'\] are still loading; the default classify"):
        repo.serving("classify", None)
    assert repo.serving("classify", "other-digits").name == "other-digits"  # naming a ready model works
    repo.load(repo.entries["lenet-digits"])
    assert repo.serving("classify", None).name == "lenet-digits"  # marked default in its manifest
