"""Requests that wait on the server for slots (`wait_seconds`)."""

from __future__ import annotations

import threading
import time

import httpx

from tests.support.api import acquire, assert_problem, create


def test_a_waiting_acquire_is_granted_when_the_holder_releases(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    holder = acquire(client, name).json()
    answers: list[tuple[float, httpx.Response]] = []

    def wait_for_it() -> None:
        with httpx.Client(base_url=client.base_url, timeout=30) as waiter:
            answer = acquire(waiter, name, wait_seconds=10)
            answers.append((time.monotonic(), answer))

    thread = threading.Thread(target=wait_for_it)
    thread.start()
    time.sleep(0.5)
    assert answers == []  # still waiting
    released = time.monotonic()
    assert client.delete(f"/api/v1/leases/{holder['id']}").status_code == 204
    thread.join(timeout=15)
    granted_at, answer = answers[0]
    assert answer.status_code == 201
    assert granted_at - released < 0.3  # handed over at once, not at the end of a retry hint
    limit = client.get(f"/api/v1/limits/{name}").json()
    assert limit["active_slots"] == 1 and limit["denied_slots"] == 0  # it waited; it was not refused


def test_a_wait_that_runs_out_answers_423_and_counts_one_denial(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    acquire(client, name)
    started = time.monotonic()
    body = assert_problem(acquire(client, name, wait_seconds=0.6), 423)
    assert 0.55 <= time.monotonic() - started < 3
    assert body["retry_after_seconds"] > 0
    assert client.get(f"/api/v1/limits/{name}").json()["denied_slots"] == 1


def test_a_waiting_rate_limit_call_passes_when_a_slot_has_drained(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1, slot_decay_per_second=4.0)
    assert client.post("/api/v1/rate-limit", json={"names": [name]}).status_code == 200
    started = time.monotonic()
    answer = client.post("/api/v1/rate-limit", json={"names": [name], "wait_seconds": 2})
    assert answer.status_code == 200
    assert 0.2 <= time.monotonic() - started < 0.5  # a slot drains in 0.25 s


def test_waits_are_bounded(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    assert_problem(acquire(client, name, wait_seconds=61), 400)
    assert_problem(acquire(client, name, wait_seconds=-1), 400)
