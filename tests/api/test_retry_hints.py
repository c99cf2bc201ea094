"""Retry hints a polling client can live on, over HTTP against a real server, on both stores.

The server and these tests read the same clock (one host), so a moment the test saw before a
request was sent, or after its answer came, bounds the moment the server saw it. Every bound
below is such a bound: none depends on how fast the machine is.
"""

from __future__ import annotations

import math
import time

import httpx

from slotgate_server import slots

# Float noise between clocks read as seconds since the epoch.
CLOCK_SLACK = 1e-6


def put_limit(client: httpx.Client, name: str, **config: object) -> None:
    client.put(f"/api/v1/limits/{name}", json=config).raise_for_status()


def consume(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/api/v1/rate-limit", json={"names": [name], "wait_seconds": 0})


def acquire(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/api/v1/leases", json={"names": [name], "holder": "test-retry-hints", "wait_seconds": 0})


def release(client: httpx.Client, lease: httpx.Response) -> None:
    assert client.delete(f"/api/v1/leases/{lease.json()['id']}").status_code == 204


def hint_of(denied: httpx.Response) -> float:
    assert denied.status_code == 423, denied.text
    hint = float(denied.json()["retry_after_seconds"])
    assert denied.headers["retry-after"] == str(max(0, math.ceil(hint - slots.SLOT_TOLERANCE)))
    return hint


def test_a_decaying_limit_hints_its_drain_and_never_longer(client: httpx.Client, name: str) -> None:
    rate = 2.0  # one slot drains in 0.5 s
    put_limit(client, name, limit=1, slot_decay_per_second=rate)
    sent = time.time()
    assert consume(client, name).status_code == 200
    granted = time.time()
    # The grant counts from a moment between `sent` and `granted`; its slot drains 1/rate later.
    for _ in range(5):
        asked = time.time()
        denied = consume(client, name)
        answered = time.time()
        if denied.status_code == 200:
            break  # drained already (a slow machine): nothing more to check
        hint = hint_of(denied)
        longest = granted + 1 / rate - asked  # the true wait, seen from the server, is at most this
        shortest = sent + 1 / rate - answered  # and at least this
        assert hint <= longest + CLOCK_SLACK
        # Brought forward by a spread of at most SPREAD_SECONDS, never more.
        assert hint >= min(shortest / 2, shortest - slots.SPREAD_SECONDS) - CLOCK_SLACK
        assert hint >= 0


def test_a_hint_honoured_on_a_decaying_limit_is_granted_or_told_the_short_rest(client: httpx.Client, name: str) -> None:
    put_limit(client, name, limit=1, slot_decay_per_second=5.0)
    assert consume(client, name).status_code == 200
    hint = hint_of(consume(client, name))
    time.sleep(hint)
    for _ in range(50):  # bounded: each hint is at most the rest of the drain
        again = consume(client, name)
        if again.status_code == 200:
            return
        rest = hint_of(again)
        assert rest <= 0.2 + CLOCK_SLACK
        time.sleep(rest)
    raise AssertionError("a client honouring the hints was never granted")


def test_hints_follow_quick_releases_well_below_the_cap(client: httpx.Client, name: str) -> None:
    put_limit(client, name, limit=1)
    for _ in range(5):
        release(client, acquire(client, name))
    average = client.get(f"/api/v1/limits/{name}").json()["avg_slot_occupancy_seconds"]
    assert average is not None
    held = acquire(client, name)
    assert held.status_code == 201
    try:
        for _ in range(5):
            hint = hint_of(acquire(client, name))
            # The holder is expected to be done after the average occupancy, spread by at most
            # SPREAD_SECONDS; no release moved the average meanwhile.
            assert hint <= max(average, slots.MIN_RETRY_SECONDS) + slots.SPREAD_SECONDS + CLOCK_SLACK
            assert hint < 30
    finally:
        release(client, held)


def test_before_any_release_a_lease_is_expected_to_be_held_as_long_again(client: httpx.Client, name: str) -> None:
    put_limit(client, name, limit=1)
    sent = time.time()
    held = acquire(client, name)
    assert held.status_code == 201
    try:
        denied = acquire(client, name)
        answered = time.time()
        hint = hint_of(denied)
        # Held for at most `answered - sent` when the hint was worked out.
        assert hint <= max(answered - sent, slots.MIN_RETRY_SECONDS) + slots.SPREAD_SECONDS + CLOCK_SLACK
        assert denied.json()["blocking_names"] == [name]
    finally:
        release(client, held)
