"""Concurrency leases over HTTP against a real server, on both stores."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import psycopg
import pytest

from tests.support.api import acquire, assert_problem, create, usage
from tests.support.live_server import LiveServer


def test_acquire_renew_release(client: httpx.Client, name: str) -> None:
    create(client, name, limit=3)
    response = acquire(client, name, slots=2, lease_duration=30, holder="host-a/123")
    assert response.status_code == 201, response.text
    lease = response.json()
    assert response.headers["location"] == f"/api/v1/leases/{lease['id']}"
    assert lease["names"] == [name] and lease["slots"] == 2 and lease["holder"] == "host-a/123"
    assert lease["lease_duration"] == 30 and lease["fencing_token"] >= 1
    assert usage(client, name) == 2
    assert client.get(f"/api/v1/leases/{lease['id']}").json() == lease

    held = client.get(f"/api/v1/limits/{name}/leases").json()
    assert [item["id"] for item in held["items"]] == [lease["id"]] and held["next"] is None

    renewed = client.post(f"/api/v1/leases/{lease['id']}/renew", json={"lease_duration": 120})
    assert renewed.status_code == 200
    assert renewed.json()["expires_at"] > lease["expires_at"] and renewed.json()["lease_duration"] == 120
    assert client.post(f"/api/v1/leases/{lease['id']}/renew").json()["lease_duration"] == 120

    assert client.delete(f"/api/v1/leases/{lease['id']}").status_code == 204
    assert usage(client, name) == 0
    assert client.get(f"/api/v1/limits/{name}").json()["avg_slot_occupancy_seconds"] >= 0
    assert client.get(f"/api/v1/limits/{name}/leases").json()["items"] == []
    # Ended leases answer "gone", never a silent success.
    assert_problem(client.delete(f"/api/v1/leases/{lease['id']}"), 410, says="released")
    assert_problem(client.post(f"/api/v1/leases/{lease['id']}/renew"), 410, says="released")
    assert_problem(client.get(f"/api/v1/leases/{lease['id']}"), 410)


def test_unknown_lease_is_not_found(client: httpx.Client) -> None:
    unknown = uuid.uuid4()
    assert_problem(client.delete(f"/api/v1/leases/{unknown}"), 404, says="no lease")
    assert_problem(client.post(f"/api/v1/leases/{unknown}/renew"), 404)
    assert_problem(client.get(f"/api/v1/leases/{unknown}"), 404)


def test_full_limit_answers_423_with_retry_after(client: httpx.Client, name: str) -> None:
    create(client, name, limit=2)
    assert acquire(client, name, slots=2).status_code == 201
    denied = acquire(client, name)
    body = assert_problem(denied, 423, says=name)
    assert body["blocking_names"] == [name]
    assert body["retry_after_seconds"] > 0
    assert int(denied.headers["retry-after"]) >= body["retry_after_seconds"]
    assert int(denied.headers["retry-after"]) < body["retry_after_seconds"] + 1
    limit = client.get(f"/api/v1/limits/{name}").json()
    assert limit["denied_slots"] == 1 and limit["active_slots"] == 2


def test_multi_name_acquire_is_all_or_nothing(client: httpx.Client) -> None:
    roomy, tight = f"roomy-{uuid.uuid4().hex[:8]}", f"tight-{uuid.uuid4().hex[:8]}"
    create(client, roomy, limit=5)
    create(client, tight, limit=1)
    assert acquire(client, tight).status_code == 201
    denied = acquire(client, roomy, tight)
    assert assert_problem(denied, 423)["blocking_names"] == [tight]
    assert usage(client, roomy) == 0  # nothing partial was kept
    assert client.get(f"/api/v1/limits/{roomy}").json()["denied_slots"] == 0
    both = acquire(client, tight, roomy, slots=1)
    assert both.status_code == 423
    client.patch(f"/api/v1/limits/{tight}", json={"limit": 2})
    granted = acquire(client, tight, roomy)
    assert granted.status_code == 201 and sorted(granted.json()["names"]) == sorted([tight, roomy])
    assert (usage(client, roomy), usage(client, tight)) == (1, 2)
    client.delete(f"/api/v1/leases/{granted.json()['id']}")
    assert (usage(client, roomy), usage(client, tight)) == (0, 1)


def test_inactive_limit_never_blocks_and_occupies_nothing(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1, active=False)
    leases = [acquire(client, name) for _ in range(3)]
    assert all(response.status_code == 201 for response in leases)
    assert usage(client, name) == 0
    # Enforcement starts when it is activated; the leases granted while inactive count nothing.
    client.patch(f"/api/v1/limits/{name}", json={"active": True})
    first = acquire(client, name)
    assert first.status_code == 201
    assert acquire(client, name).status_code == 423
    for response in leases:
        assert client.delete(f"/api/v1/leases/{response.json()['id']}").status_code == 204
    assert usage(client, name) == 1


def test_missing_names_are_reported_and_nothing_is_taken(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    body = assert_problem(acquire(client, name, ghost), 404, says=ghost)
    assert body["missing_names"] == [ghost]
    assert usage(client, name) == 0
    assert client.get(f"/api/v1/limits/{ghost}").status_code == 404  # never created implicitly


def test_more_slots_than_the_limit_is_refused_not_queued(client: httpx.Client, name: str) -> None:
    create(client, name, limit=5)
    assert_problem(acquire(client, name, slots=6), 422, says="5")
    assert client.get(f"/api/v1/limits/{name}").json()["denied_slots"] == 0


def test_lease_duration_bounds(client: httpx.Client, name: str) -> None:
    create(client, name)
    assert_problem(acquire(client, name, lease_duration=0.1), 400, says="lease_duration")
    assert_problem(acquire(client, name, lease_duration=86401), 400)
    assert_problem(acquire(client, name, lease_duration=0), 400)
    lease = acquire(client, name, lease_duration=10).json()
    assert_problem(client.post(f"/api/v1/leases/{lease['id']}/renew", json={"lease_duration": 0.1}), 400)


def test_invalid_acquire_bodies(client: httpx.Client, name: str) -> None:
    create(client, name)
    for body in (
        {"names": []},
        {"names": name},
        {"names": [name, name]},
        {"names": [name], "slots": 0},
        {"names": [name], "slots": 1.5},
        {"names": [name], "holder": "h" * 256},
        {"names": ["a/b"]},
        {"names": [name], "extra": 1},
        {},
    ):
        assert_problem(client.post("/api/v1/leases", json=body), 400)
    assert usage(client, name) == 0


def test_fencing_tokens_only_grow(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    tokens = []
    for _ in range(5):
        lease = acquire(client, name).json()
        tokens.append(lease["fencing_token"])
        client.delete(f"/api/v1/leases/{lease['id']}")
    assert tokens == sorted(tokens) and len(set(tokens)) == 5


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_an_acquire_waits_for_whoever_holds_an_expired_lease(
    server: LiveServer, client: httpx.Client, name: str
) -> None:
    # Another transaction (the sweep, a late release) holds the expired lease: the acquire
    # that would be denied waits for it to end, rather than being denied a slot coming back.
    create(client, name, limit=1)
    lease = acquire(client, name, lease_duration=0.5).json()
    with psycopg.connect(server.database_url) as other:
        other.execute("SELECT 1 FROM leases WHERE id = %s FOR UPDATE", (lease["id"],))
        time.sleep(0.6)
        let_go = threading.Timer(0.5, other.commit)
        let_go.start()
        started = time.monotonic()
        successor = acquire(client, name, lease_duration=30)
        let_go.join()
    assert successor.status_code == 201, successor.text
    assert time.monotonic() - started >= 0.4  # it waited for the other transaction
    assert usage(client, name) == 1


def test_expired_lease_frees_its_slots(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    lease = acquire(client, name, lease_duration=0.6).json()
    assert acquire(client, name).status_code == 423
    time.sleep(0.7)
    # An acquire that would be denied reclaims the expired lease on the spot.
    successor = acquire(client, name, lease_duration=30)
    assert successor.status_code == 201
    assert successor.json()["fencing_token"] > lease["fencing_token"]
    assert usage(client, name) == 1
    assert_problem(client.post(f"/api/v1/leases/{lease['id']}/renew"), 410, says="expired")
    assert_problem(client.delete(f"/api/v1/leases/{lease['id']}"), 410, says="expired")
    assert usage(client, name) == 1  # the late release freed nothing twice


def test_the_sweep_reclaims_without_any_acquire(client: httpx.Client, name: str) -> None:
    create(client, name, limit=2)
    lease = acquire(client, name, slots=2, lease_duration=0.5).json()
    deadline = time.monotonic() + 10
    while usage(client, name) != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert usage(client, name) == 0
    assert client.get(f"/api/v1/limits/{name}").json()["open_leases"] == 0
    assert_problem(client.get(f"/api/v1/leases/{lease['id']}"), 410)


def test_renewal_keeps_a_lease_alive_past_its_duration(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    lease = acquire(client, name, lease_duration=0.8).json()
    for _ in range(4):
        time.sleep(0.4)
        assert client.post(f"/api/v1/leases/{lease['id']}/renew").status_code == 200
    assert usage(client, name) == 1
    assert acquire(client, name).status_code == 423


def test_deleting_a_limit_leaves_other_limits_of_a_lease_counted(client: httpx.Client) -> None:
    kept, dropped = f"kept-{uuid.uuid4().hex[:8]}", f"dropped-{uuid.uuid4().hex[:8]}"
    create(client, kept, limit=2)
    create(client, dropped, limit=2)
    lease = acquire(client, kept, dropped).json()
    assert client.delete(f"/api/v1/limits/{dropped}").status_code == 204
    assert usage(client, kept) == 1
    assert client.delete(f"/api/v1/leases/{lease['id']}").status_code == 204
    assert usage(client, kept) == 0


def test_leases_of_a_limit_page_oldest_first(client: httpx.Client, name: str) -> None:
    create(client, name, limit=10)
    ids = [acquire(client, name, holder=f"worker-{i}").json()["id"] for i in range(5)]
    seen, after = [], None
    while True:
        params: dict[str, object] = {"page_size": 2, **({"after": after} if after else {})}
        page = client.get(f"/api/v1/limits/{name}/leases", params=params).json()
        seen += [item["id"] for item in page["items"]]
        if (after := page["next"]) is None:
            break
    assert seen == ids
    assert_problem(client.get(f"/api/v1/limits/ghost-{uuid.uuid4().hex[:6]}/leases"), 404)
