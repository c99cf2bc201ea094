"""A server that crashes or restarts keeps every lease and leaks no slot."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import fresh_database, running_server


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "crash"])
def test_leases_survive_a_server_restart(store: str, tmp_path: Path, stop_signal: int) -> None:
    with fresh_database(store, tmp_path) as url:
        with running_server(url, tmp_path) as first:
            api = httpx.Client(base_url=first.url)
            api.post("/api/v1/limits", json={"name": "db", "limit": 1})
            lease = api.post("/api/v1/leases", json={"names": ["db"], "lease_duration": 60}).json()
            first.stop(stop_signal)
        with running_server(url, tmp_path) as second:
            api = httpx.Client(base_url=second.url)
            assert api.get(f"/api/v1/leases/{lease['id']}").json() == lease
            assert api.get("/api/v1/limits/db").json()["active_slots"] == 1
            assert api.post("/api/v1/leases", json={"names": ["db"]}).status_code == 423
            assert api.delete(f"/api/v1/leases/{lease['id']}").status_code == 204
            successor = api.post("/api/v1/leases", json={"names": ["db"]})
            assert successor.status_code == 201
            assert successor.json()["fencing_token"] > lease["fencing_token"]
