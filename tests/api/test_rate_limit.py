"""Rate-limit mode (slot decay) over HTTP against a real server, on both stores."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.api import assert_problem, create, usage


def consume(client: httpx.Client, *names: str, slots: int = 1) -> httpx.Response:
    return client.post("/api/v1/rate-limit", json={"names": list(names), "slots": slots})


def test_grant_then_exact_wait(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1, slot_decay_per_second=5.0)
    granted = consume(client, name)
    assert granted.status_code == 200
    assert granted.json()["names"] == [name] and granted.json()["slots"] == 1
    denied = consume(client, name)
    body = assert_problem(denied, 423, says=name)
    assert 0 < body["retry_after_seconds"] <= 0.2
    assert denied.headers["retry-after"] == "1"
    time.sleep(body["retry_after_seconds"])
    assert consume(client, name).status_code == 200


def test_slow_decay_hints_the_long_wait(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1, slot_decay_per_second=0.1)
    assert consume(client, name).status_code == 200
    denied = consume(client, name)
    wait = assert_problem(denied, 423)["retry_after_seconds"]
    assert 9.5 < wait <= 10.0
    assert denied.headers["retry-after"] == "10"


def test_the_slowest_and_fastest_decay_rates_work(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1, slot_decay_per_second=0.000000001)
    assert consume(client, name).status_code == 200
    time.sleep(0.01)  # some drain, a billionth of a slot per second of it
    wait = assert_problem(consume(client, name), 423)["retry_after_seconds"]
    assert 0.99e9 < wait <= 1e9  # a slot drains in a billion seconds, exactly
    fast = f"{name}-fast"
    create(client, fast, limit=1, slot_decay_per_second=1_000_000_000)
    assert [consume(client, fast).status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.parametrize("rate", [1e-12, 5e-324])
def test_a_vanishing_decay_rate_is_refused(client: httpx.Client, name: str, rate: float) -> None:
    # Its drain and its wait leave the range of a float: PostgreSQL refuses such arithmetic.
    response = client.put(f"/api/v1/limits/{name}", json={"limit": 1, "slot_decay_per_second": rate})
    body = assert_problem(response, 400, says="at least 0.000000001")
    assert body["field"] == "slot_decay_per_second"


def test_burst_up_to_the_limit(client: httpx.Client, name: str) -> None:
    create(client, name, limit=3, slot_decay_per_second=1.0)
    assert [consume(client, name).status_code for _ in range(4)] == [200, 200, 200, 423]


def test_denials_do_not_reset_the_drain(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1, slot_decay_per_second=2.0)
    assert consume(client, name).status_code == 200
    started = time.monotonic()
    while time.monotonic() - started < 0.35:
        assert consume(client, name).status_code == 423
    time.sleep(max(0.0, 0.52 - (time.monotonic() - started)))
    assert consume(client, name).status_code == 200


def test_fractions_are_kept(client: httpx.Client, name: str) -> None:
    create(client, name, limit=2, slot_decay_per_second=0.5)
    assert consume(client, name, slots=2).status_code == 200
    time.sleep(1.0)
    occupied = usage(client, name)
    assert 1.3 < occupied < 1.55  # about 1.5, not floored to 1


def test_without_decay_is_refused(client: httpx.Client, name: str) -> None:
    create(client, name, limit=5)
    assert_problem(consume(client, name), 422, says="slot_decay_per_second")
    assert usage(client, name) == 0


def test_inactive_limit_passes_even_without_decay(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1, active=False)
    assert [consume(client, name).status_code for _ in range(3)] == [200, 200, 200]


def test_more_than_the_limit_and_missing_names(client: httpx.Client, name: str) -> None:
    create(client, name, limit=2, slot_decay_per_second=1.0)
    assert_problem(consume(client, name, slots=3), 422)
    body = assert_problem(consume(client, name, "no-such-limit"), 404)
    assert body["missing_names"] == ["no-such-limit"]


@pytest.mark.parametrize("slots", [0, -1, 1.5, "1"])
def test_invalid_slot_counts(client: httpx.Client, name: str, slots: object) -> None:
    create(client, name, limit=2, slot_decay_per_second=1.0)
    assert_problem(client.post("/api/v1/rate-limit", json={"names": [name], "slots": slots}), 400)


def test_decay_rate_change_keeps_the_drain_so_far(client: httpx.Client, name: str) -> None:
    create(client, name, limit=10, slot_decay_per_second=1.0)
    assert consume(client, name, slots=10).status_code == 200
    time.sleep(1.0)
    client.patch(f"/api/v1/limits/{name}", json={"slot_decay_per_second": 0.001})
    assert 8.8 < usage(client, name) < 9.1  # drained at the old rate until the change
