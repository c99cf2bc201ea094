"""Access control: bearer API keys with admin and client roles."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import assert_problem
from tests.support.live_server import LiveServer, fresh_database, running_server

ADMIN_KEY, CLIENT_KEY = "admin-secret-123", "client-secret-456"


@pytest.fixture(scope="module")
def guarded(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_dir = tmp_path_factory.mktemp("guarded")
    env = {"SLOTGATE_API_KEYS": f"admin:{ADMIN_KEY},client:{CLIENT_KEY}"}
    with fresh_database(store, tmp_dir) as url, running_server(url, tmp_dir, env) as live:
        yield live


def api(server: LiveServer, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers)


def test_no_key_or_an_unknown_key_is_401(guarded: LiveServer) -> None:
    for client in (api(guarded, None), api(guarded, "not-a-key")):
        for method, path in [("GET", "/api/v1/limits"), ("POST", "/api/v1/leases"), ("DELETE", "/api/v1/limits/x")]:
            response = client.request(method, path, json={"names": ["x"]} if method == "POST" else None)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Bearer" in api(guarded, None).get("/api/v1/limits").json()["detail"]


def test_client_key_takes_slots_but_cannot_manage_limits(guarded: LiveServer) -> None:
    admin, client = api(guarded, ADMIN_KEY), api(guarded, CLIENT_KEY)
    assert admin.post("/api/v1/limits", json={"name": "guarded-db", "limit": 2}).status_code == 201
    assert (
        admin.post("/api/v1/limits", json={"name": "guarded-rl", "limit": 2, "slot_decay_per_second": 1}).status_code
        == 201
    )

    assert client.get("/api/v1/limits").status_code == 200
    assert client.get("/api/v1/limits/guarded-db").status_code == 200
    lease = client.post("/api/v1/leases", json={"names": ["guarded-db"]})
    assert lease.status_code == 201
    lease_id = lease.json()["id"]
    assert client.get(f"/api/v1/leases/{lease_id}").status_code == 200
    assert client.get("/api/v1/limits/guarded-db/leases").status_code == 200
    assert client.post(f"/api/v1/leases/{lease_id}/renew").status_code == 200
    assert client.delete(f"/api/v1/leases/{lease_id}").status_code == 204
    assert client.post("/api/v1/rate-limit", json={"names": ["guarded-rl"]}).status_code == 200

    for method, path, body in [
        ("POST", "/api/v1/limits", {"name": "nope", "limit": 1}),
        ("PUT", "/api/v1/limits/guarded-db", {"limit": 9}),
        ("PATCH", "/api/v1/limits/guarded-db", {"limit": 9}),
        ("DELETE", "/api/v1/limits/guarded-db", None),
    ]:
        assert_problem(client.request(method, path, json=body), 403, says="admin")
    assert admin.get("/api/v1/limits/guarded-db").json()["limit"] == 2
    assert admin.delete("/api/v1/limits/guarded-db").status_code == 204


def test_health_and_metrics_need_no_key(guarded: LiveServer) -> None:
    anonymous = api(guarded, None)
    assert anonymous.get("/api/health").status_code == 200
    assert anonymous.get("/metrics").status_code == 200


def test_keys_are_never_logged(guarded: LiveServer) -> None:
    api(guarded, "wrong-key-789").get("/api/v1/limits")
    log = guarded.log()
    assert ADMIN_KEY not in log and CLIENT_KEY not in log and "wrong-key-789" not in log


def test_an_open_server_refuses_a_non_loopback_host(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slotgate.cli", "server", "start", "--host", "0.0.0.0", "--port", "1"],
        env={"SLOTGATE_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--insecure" in result.stderr and "SLOTGATE_API_KEYS" in result.stderr
