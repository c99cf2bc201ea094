"""Fixtures: real server processes on both stores, and HTTP clients for them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import LiveServer, fresh_database, running_server

STORES = ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def server(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One open (no API keys) server per store, shared by the tests that only need an API."""
    tmp_dir = tmp_path_factory.mktemp(f"server-{store}")
    with fresh_database(store, tmp_dir) as url, running_server(url, tmp_dir) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
def name() -> str:
    """A limit name no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    return tmp_path
