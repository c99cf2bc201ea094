"""Small steps of the HTTP API that many tests take."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM = "application/problem+json"


def create(client: httpx.Client, name: str, **fields: object) -> httpx.Response:
    return client.post("/api/v1/limits", json={"name": name, "limit": 5, **fields})


def acquire(client: httpx.Client, *names: str, slots: int = 1, **fields: object) -> httpx.Response:
    return client.post("/api/v1/leases", json={"names": list(names), "slots": slots, **fields})


def usage(client: httpx.Client, name: str) -> float:
    return float(client.get(f"/api/v1/limits/{name}").json()["active_slots"])


def assert_problem(response: httpx.Response, status: int, *, says: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("/problems/") and body["detail"]
    assert says.lower() in body["detail"].lower(), body["detail"]
    return body
