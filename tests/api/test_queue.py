"""Waiters are served in arrival order, across server processes, and a waiter that asks again
with its Idempotency-Key keeps its place. On both stores, against real servers."""

from __future__ import annotations

import contextlib
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import acquire, create
from tests.support.live_server import LiveServer, count_rows, fresh_database, running_server
from tests.support.waiting import RawRequest, eventually

LEASES = "/api/v1/leases"


def served_places(server: LiveServer) -> int:
    return count_rows(server.database_url, "queue_places", "parked_until IS NULL")


def parked_places(server: LiveServer) -> int:
    return count_rows(server.database_url, "queue_places", "parked_until IS NOT NULL")


def wait_for(server: LiveServer, name: str, *, slots: int = 1, key: str | None = None, seconds: int = 30) -> RawRequest:
    headers = {"Idempotency-Key": key} if key else None
    return RawRequest(server.url, LEASES, {"names": [name], "slots": slots, "wait_seconds": seconds}, headers)


def release(client: httpx.Client, lease: dict[str, object]) -> None:
    assert client.delete(f"{LEASES}/{lease['id']}").status_code == 204


def test_a_heavy_waiter_is_not_overtaken_by_lighter_ones_behind_it(
    server: LiveServer, client: httpx.Client, name: str
) -> None:
    create(client, name, limit=5)
    holders = [acquire(client, name).json() for _ in range(5)]
    places = served_places(server)
    heavy = wait_for(server, name, slots=5)
    eventually(lambda: served_places(server) == places + 1, what="the heavy waiter holds a place")
    light = wait_for(server, name, slots=1)
    eventually(lambda: served_places(server) == places + 2, what="the light waiter holds a place")

    for holder in holders:  # each freed slot would fit the light waiter at once
        release(client, holder)
    status, granted = heavy.answer()
    assert status == 201, granted
    assert client.get(f"/api/v1/limits/{name}").json()["open_leases"] == 1, "the light one still waits"
    release(client, granted)
    assert light.status() == 201


def test_a_waiter_that_asks_again_with_its_key_keeps_its_place(
    server: LiveServer, client: httpx.Client, name: str
) -> None:
    create(client, name, limit=1)
    holder = acquire(client, name).json()
    key = str(uuid.uuid4())
    parked = parked_places(server)
    # Its wait on the server ends before the slot is free, as the SDK's does.
    assert wait_for(server, name, key=key, seconds=1).status() == 423
    eventually(lambda: parked_places(server) == parked + 1, what="its place is kept for a repeat")
    later = wait_for(server, name)
    first_again = wait_for(server, name, key=key)
    eventually(lambda: parked_places(server) == parked, what="the repeat resumes the place")

    release(client, holder)
    status, granted = first_again.answer()
    assert status == 201, "the repeat has the first request's place, ahead of the later one"
    release(client, granted)
    assert later.status() == 201


def test_a_parked_place_lets_everyone_pass(server: LiveServer, client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    holder = acquire(client, name).json()
    parked = parked_places(server)
    assert wait_for(server, name, key=str(uuid.uuid4()), seconds=1).status() == 423
    eventually(lambda: parked_places(server) == parked + 1, what="its place is parked")
    waiting = wait_for(server, name)
    release(client, holder)
    assert waiting.status() == 201


@pytest.fixture
def two_replicas(tmp_path: Path) -> Iterator[list[LiveServer]]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database("postgres", tmp_path))
        yield [stack.enter_context(running_server(url, tmp_path)) for _ in range(2)]


def test_arrival_order_holds_across_replicas(two_replicas: list[LiveServer], name: str) -> None:
    one, two = two_replicas
    with httpx.Client(base_url=one.url, timeout=30) as client:
        create(client, name, limit=5)
        holders = [acquire(client, name).json() for _ in range(5)]
        heavy = wait_for(one, name, slots=5)
        eventually(lambda: served_places(one) == 1, what="the heavy waiter holds a place")
        light = wait_for(two, name, slots=1)
        eventually(lambda: served_places(one) == 2, what="the light waiter, on the other replica, too")
        for holder in holders:
            release(client, holder)
        status, granted = heavy.answer()
        assert status == 201
        release(client, granted)
        assert light.status() == 201


def test_the_places_of_a_stopped_process_lapse(two_replicas: list[LiveServer], name: str) -> None:
    one, two = two_replicas
    with httpx.Client(base_url=two.url, timeout=30) as client:
        create(client, name, limit=1)
        holder = acquire(client, name).json()
        orphan = wait_for(one, name)
        eventually(lambda: served_places(one) == 1, what="the first waiter holds a place")
        one.stop(signal.SIGKILL)
        orphan.close()
        waiting = wait_for(two, name)
        release(client, holder)
        assert waiting.status() == 201, "the stopped process's place no longer blocks it"


def test_a_repeat_on_another_replica_keeps_the_place(two_replicas: list[LiveServer], name: str) -> None:
    one, two = two_replicas
    with httpx.Client(base_url=one.url, timeout=30) as client:
        create(client, name, limit=1)
        holder = acquire(client, name).json()
        key = str(uuid.uuid4())
        assert wait_for(one, name, key=key, seconds=1).status() == 423
        eventually(lambda: parked_places(one) == 1, what="its place is kept for a repeat")
        later = wait_for(two, name)
        eventually(lambda: served_places(one) == 1, what="the later waiter holds a place")
        first_again = wait_for(one, name, key=key)
        eventually(lambda: parked_places(one) == 0, what="the repeat resumes the place")
        release(client, holder)
        status, granted = first_again.answer()
        assert status == 201
        release(client, granted)
        assert later.status() == 201
