"""A request waiting for slots whose client goes away is withdrawn: nothing is granted to it,
on both stores, for leases and for rate limits."""

from __future__ import annotations

import httpx

from tests.support.api import acquire, create
from tests.support.waiting import RawRequest, eventually, scraped

WAITING = "slotgate_waiting_requests"
DEPARTED = "slotgate_departed_requests_total"


def open_leases(client: httpx.Client, name: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = client.get(f"/api/v1/limits/{name}/leases").json()["items"]
    return items


def depart_while_waiting(client: httpx.Client, path: str, body: dict[str, object], *, mode: str) -> None:
    """Send a request that waits for slots, see the server hold it, and close its connection;
    return once the server has withdrawn it."""
    withdrawn = scraped(client, DEPARTED, mode=mode, outcome="withdrawn")
    waiting = scraped(client, WAITING, mode=mode)
    request = RawRequest(str(client.base_url), path, {**body, "wait_seconds": 30})
    eventually(lambda: scraped(client, WAITING, mode=mode) > waiting, what="the request waits on the server")
    request.close()
    eventually(
        lambda: scraped(client, DEPARTED, mode=mode, outcome="withdrawn") == withdrawn + 1,
        what="the server withdraws the request of the client that left",
    )


def test_a_waiter_that_leaves_is_never_granted_and_the_next_caller_is(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    holder = acquire(client, name).json()
    depart_while_waiting(client, "/api/v1/leases", {"names": [name]}, mode="concurrency")

    assert client.delete(f"/api/v1/leases/{holder['id']}").status_code == 204
    assert open_leases(client, name) == []
    assert client.get(f"/api/v1/limits/{name}").json()["active_slots"] == 0
    assert acquire(client, name).status_code == 201, "the slot went to nobody"


def test_of_several_waiters_only_those_that_left_are_withdrawn(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    holder = acquire(client, name).json()
    staying = RawRequest(str(client.base_url), "/api/v1/leases", {"names": [name], "wait_seconds": 30})
    eventually(lambda: scraped(client, WAITING, mode="concurrency") >= 1, what="the first waiter waits")
    depart_while_waiting(client, "/api/v1/leases", {"names": [name]}, mode="concurrency")

    assert client.delete(f"/api/v1/leases/{holder['id']}").status_code == 204
    assert staying.status() == 201
    assert len(open_leases(client, name)) == 1


def test_a_rate_limit_waiter_that_leaves_takes_nothing(client: httpx.Client, name: str) -> None:
    # One slot that drains in 5 s: a waiter that stayed would be granted then.
    create(client, name, limit=1, slot_decay_per_second=0.2)
    assert client.post("/api/v1/rate-limit", json={"names": [name]}).status_code == 200
    depart_while_waiting(client, "/api/v1/rate-limit", {"names": [name]}, mode="rate_limit")

    eventually(lambda: client.get(f"/api/v1/limits/{name}").json()["active_slots"] == 0, what="the slot drains")
    assert scraped(client, "slotgate_granted_slots_total", limit=name) == 1, "only the first call took a slot"
    assert client.get(f"/api/v1/limits/{name}").json()["denied_slots"] == 0, "a withdrawn request is no denial"
    assert client.post("/api/v1/rate-limit", json={"names": [name]}).status_code == 200


def test_a_waiter_that_stays_is_granted_as_before(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    holder = acquire(client, name).json()
    waiter = RawRequest(str(client.base_url), "/api/v1/leases", {"names": [name], "wait_seconds": 30})
    eventually(lambda: scraped(client, WAITING, mode="concurrency") >= 1, what="the waiter waits")
    assert client.delete(f"/api/v1/leases/{holder['id']}").status_code == 204
    assert waiter.status() == 201
