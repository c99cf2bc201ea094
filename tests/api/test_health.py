"""Health and metrics."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg

from tests.api.test_leases import acquire
from tests.api.test_limits import create
from tests.support import metrics
from tests.support.live_server import POSTGRES_URL, fresh_database, running_server


def test_health_names_the_store(client: httpx.Client, store: str) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["store"] == {"sqlite": "sqlite", "postgres": "postgresql"}[store]


def test_metrics_count_grants_denials_and_occupancy(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
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
    latency = {"mode": "concurrency", "limit": name}
    assert metrics.sample(response.text, "slotgate_take_seconds_count", **latency) == 2.0
    assert metrics.sample(response.text, "slotgate_grants_total", mode="concurrency") is not None
    assert metrics.sample(response.text, "slotgate_denials_total", mode="concurrency") is not None


def test_metrics_count_expired_leases_per_limit(client: httpx.Client, name: str) -> None:
    create(client, name, limit=2)
    acquire(client, name, lease_duration=0.5)
    time.sleep(0.6)
    assert acquire(client, name, slots=2).status_code == 201  # reclaims the expired lease first
    figures = metrics.of_limit(client.get("/metrics").text, name)
    assert figures["slotgate_expired_leases_total"] == 1.0
    assert figures["slotgate_granted_slots_total"] == 3.0 and figures["slotgate_active_slots"] == 2.0


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
