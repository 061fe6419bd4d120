"""The model repository: a broken model is marked failed with its reason while the others still serve."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from service.errors import InvalidInput, ModelNotFound, ModelNotReady
from service.repository import ModelRepository, Status
from service.settings import Settings

LENET = Path(__file__).resolve().parents[2] / "models" / "lenet5-mnist" / "1"


def copy_model(root: Path, name: str) -> Path:
    dest = root / name / "1"
    shutil.copytree(LENET, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["name"] = name
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def load(root: Path, **kw) -> ModelRepository:
    repo = ModelRepository(Settings(model_dir=root, **kw))
    repo.load_all()
    return repo


def test_committed_model_loads_and_passes_its_reference_check():
    repo = load(LENET.parent.parent)
    entry = repo.get("lenet5-mnist")
    assert entry.status == Status.ready, entry.reason
    assert entry.version == 1 and entry.runtime.provider == "CPUExecutionProvider"
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
        repo.runtime("bad", "classify")


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
    assert "task 'dance' is not served" in repo.get("odd").reason
    assert "no numbered version folder" in repo.get("empty").reason


def test_lookup_errors_name_the_alternatives(tmp_path):
    copy_model(tmp_path, "digits")
    repo = load(tmp_path)
    with pytest.raises(ModelNotFound, match=r"model 'nope' not found; available models: \['digits'\]"):
        repo.get("nope")
    with pytest.raises(InvalidInput, match="'digits' is a classify model, not generate"):
        repo.runtime("digits", "generate")
    entry, runtime = repo.runtime(None, "classify")
    assert entry.name == "digits" and runtime.task == "classify"
