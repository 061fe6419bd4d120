"""A server behind API keys, for the client's key tests (the shared `server` fixture has none)."""

from __future__ import annotations

import pytest
from tests_support import lenet_repository, start_server, stop_server

KEY = "client-key"


@pytest.fixture(scope="session")
def keyed(tmp_path_factory):
    root = lenet_repository(tmp_path_factory.mktemp("client-keyed-models"))
    env = {"DLSERVE_API_KEYS": KEY, "DLSERVE_GRPC_PORT": "0"}
    srv = start_server(root, tmp_path_factory.mktemp("client-keyed") / "server.log", env)
    yield srv
    stop_server(srv)


@pytest.fixture
def api_key() -> str:
    """The key `keyed` accepts."""
    return KEY
