"""A real server for the SDK tests (SQLite; the SDK is the same against either store), and
limits to use on it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from slotgate import SlotgateClient, _protocol
from tests.support.live_server import LiveServer, fresh_database, running_server


@pytest.fixture(scope="session")
def sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_dir = tmp_path_factory.mktemp("sdk")
    with fresh_database("sqlite", tmp_dir) as url, running_server(url, tmp_dir) as live:
        yield live


@pytest.fixture
def api(sdk_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> SlotgateClient:
    """A client for the test's own checks; SLOTGATE_API_URL points the SDK's default at the server."""
    monkeypatch.setenv("SLOTGATE_API_URL", sdk_server.url)
    monkeypatch.delenv("SLOTGATE_API_KEY", raising=False)
    return SlotgateClient(sdk_server.url)


MakeLimit = Callable[..., str]


@pytest.fixture
def make_limit(api: SlotgateClient) -> MakeLimit:
    """Create a limit with a fresh name and return the name."""

    def make(limit: int = 5, slot_decay_per_second: float = 0.0, active: bool = True, name: str | None = None) -> str:
        name = name or f"sdk-{uuid.uuid4().hex[:10]}"
        api.call(_protocol.create(name, limit=limit, slot_decay_per_second=slot_decay_per_second, active=active))
        return name

    return make


def occupied(api: SlotgateClient, name: str) -> float:
    return float(api.call(_protocol.read(name)).active_slots)


def open_leases(api: SlotgateClient, name: str) -> int:
    return len(list(api.leases_of(name)))


# How long a test waits for the server to settle (leases released, waiters withdrawn).
SETTLE_SECONDS = 15.0


def eventually(condition: Callable[[], bool], seconds: float = SETTLE_SECONDS) -> bool:
    """Whether `condition()` holds by the deadline, polled until then."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()
