"""Health and metrics."""

from __future__ import annotations

import httpx

from tests.api.test_leases import acquire
from tests.api.test_limits import create


def test_health_names_the_store(client: httpx.Client, store: str) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["store"] == {"sqlite": "sqlite", "postgres": "postgresql"}[store]


def test_metrics_count_grants_denials_and_occupancy(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    acquire(client, name)
    acquire(client, name)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert any(line.startswith('slotgate_grants_total{mode="concurrency"}') for line in lines)
    assert any(line.startswith('slotgate_denials_total{mode="concurrency"}') for line in lines)
    assert f'slotgate_active_slots{{limit="{name}"}} 1.0' in lines
    assert f'slotgate_limit_slots{{limit="{name}"}} 1.0' in lines
