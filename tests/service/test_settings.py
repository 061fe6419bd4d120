"""DLSERVE_* settings: comma-separated lists, and the rules on open paths."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tests_support import REPO

from service.settings import PAGE_PATHS, PROBE_PATHS, Settings


def test_lists_come_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("DLSERVE_API_KEYS", "alpha, beta ,,gamma")
    monkeypatch.setenv("DLSERVE_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("DLSERVE_AUTH_OPEN_PATHS", "/healthz")
    monkeypatch.setenv("DLSERVE_SHUTDOWN_GRACE_S", "12.5")
    s = Settings()
    assert s.api_keys == ["alpha", "beta", "gamma"] and "alpha" not in repr(s)
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert s.auth_open_paths == ["/healthz"] and s.shutdown_grace_s == 12.5


def test_defaults_keep_everything_open_and_probes_listed():
    s = Settings()
    assert s.api_keys == [] and s.cors_origins == [] and s.auth_open_paths == [*PROBE_PATHS, *PAGE_PATHS]
    assert s.shutdown_grace_s == 30 and s.shutdown_delay_s == 0


@pytest.mark.parametrize(
    ("paths", "message"),
    [("healthz", "must start with '/'"), ("/v2/repository/index", "cannot be open")],
)
def test_bad_open_paths(paths, message):
    with pytest.raises(ValidationError, match=message):
        Settings(auth_open_paths=paths)


def test_every_setting_is_documented():
    table = (REPO / "docs" / "deployment.md").read_text()
    missing = [name for name in Settings.model_fields if f"`DLSERVE_{name.upper()}`" not in table]
    assert not missing, f"settings without a row in docs/deployment.md: {missing}"


def test_default_models_come_as_task_model_pairs(monkeypatch):
    monkeypatch.setenv("DLSERVE_DEFAULT_MODELS", "classify=alexnet-cifar10, caption = captioner-flickr8k")
    assert Settings().default_models == {"classify": "alexnet-cifar10", "caption": "captioner-flickr8k"}
    monkeypatch.setenv("DLSERVE_DEFAULT_MODELS", "classify")
    with pytest.raises(ValidationError, match=r"'classify' is not task=model \(e.g. classify=lenet5-mnist\)"):
        Settings()
