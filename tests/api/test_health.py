"""Health and metrics."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg

from tests.support import metrics
from tests.support.api import acquire, create
from tests.support.live_server import POSTGRES_URL, fresh_database, running_server


def test_health_names_the_store(client: httpx.Client, store: str) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["store"] == {"sqlite": "sqlite", "postgres": "postgresql"}[store]


def test_metrics_count_grants_denials_and_occupancy(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    before = client.get("/metrics").text
    acquire(client, name)
    acquire(client, name)  # refused: the limit is full
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert metrics.of_limit(response.text, name) == {
        "slotgate_limit_slots": 1.0,
        "slotgate_active_slots": 1.0,
        "slotgate_open_leases": 1.0,
        "slotgate_granted_slots_total": 1.0,
        "slotgate_denied_slots_total": 1.0,
        "slotgate_expired_leases_total": 0.0,
    }
    per_limit = {"mode": "concurrency", "limit": name}
    assert metrics.sample(response.text, "slotgate_limit_take_seconds_count", **per_limit) == 2.0
    # The process's own counts, of every limit it served: this test added one of each.
    for process_count in ("slotgate_grants_total", "slotgate_denials_total", "slotgate_take_seconds_count"):
        added = metrics.sample(response.text, process_count, mode="concurrency") or 0.0
        already = metrics.sample(before, process_count, mode="concurrency") or 0.0
        assert added - already == (2.0 if process_count == "slotgate_take_seconds_count" else 1.0), process_count


def test_an_expired_lease_counts_on_every_limit_it_named(client: httpx.Client, name: str) -> None:
    idle = f"{name}-inactive"
    create(client, name, limit=2)
    create(client, idle, limit=2, active=False)
    acquire(client, name, idle, lease_duration=0.5)
    time.sleep(0.6)
    assert acquire(client, name, slots=2).status_code == 201  # reclaims the expired lease first
    exposition = client.get("/metrics").text
    active, inactive = metrics.of_limit(exposition, name), metrics.of_limit(exposition, idle)
    assert active["slotgate_expired_leases_total"] == 1.0 and inactive["slotgate_expired_leases_total"] == 1.0
    assert active["slotgate_granted_slots_total"] == 3.0 and active["slotgate_active_slots"] == 2.0
    # An inactive limit takes no slots, and no lease is open on it any more.
    assert inactive["slotgate_granted_slots_total"] == 0.0 and inactive["slotgate_open_leases"] == 0.0


def test_a_deleted_limit_leaves_the_metrics(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    acquire(client, name)
    per_limit = {"mode": "concurrency", "limit": name}
    assert metrics.sample(client.get("/metrics").text, "slotgate_limit_take_seconds_count", **per_limit) == 1.0
    assert client.delete(f"/api/v1/limits/{name}").status_code == 204
    exposition = client.get("/metrics").text
    assert metrics.of_limit(exposition, name) == {}
    assert metrics.sample(exposition, "slotgate_limit_take_seconds_count", **per_limit) is None


def test_a_lost_database_answers_503_not_500(tmp_path: Path) -> None:
    with fresh_database("postgres", tmp_path) as url, running_server(url, tmp_path) as live:
        api = httpx.Client(base_url=live.url)
        api.post("/api/v1/limits", json={"name": "db", "limit": 1})
        database = url.rsplit("/", 1)[1]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        health = api.get("/api/health")
        assert health.status_code == 503 and health.json()["type"] == "/problems/store-unavailable"
        for response in (api.get("/api/v1/limits/db"), api.post("/api/v1/leases", json={"names": ["db"]})):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
