"""Waiters are served in arrival order, across server processes, and a waiter that asks again
with its Idempotency-Key keeps its place. On both stores, against real servers.

The servers here never look again on their own (SLOTGATE_WAITER_RECHECK_SECONDS is longer than
any wait), so a wake-up that the queue fails to send leaves its waiter to time out."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import acquire, create
from tests.support.live_server import LiveServer, count_rows, fresh_database, running_server
from tests.support.waiting import RawRequest, eventually

LEASES = "/api/v1/leases"
# Waiters are woken only by what may let them in.
NO_RECHECK = {"SLOTGATE_WAITER_RECHECK_SECONDS": "3600"}
# Waits on the server last this long, and a waiter that is let in answers well within it: one
# that nobody woke would be answered only when its wait runs out.
WAIT_SECONDS = 60
PROMPTLY = 15.0


@pytest.fixture(scope="module")
def server(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_dir = tmp_path_factory.mktemp(f"queue-{store}")
    with fresh_database(store, tmp_dir) as url, running_server(url, tmp_dir, env=NO_RECHECK) as live:
        yield live


def served_places(server: LiveServer) -> int:
    return count_rows(server.database_url, "queue_places", "parked_until IS NULL")


def parked_places(server: LiveServer) -> int:
    return count_rows(server.database_url, "queue_places", "parked_until IS NOT NULL")


def wait_for(
    server: LiveServer, name: str, *, slots: int = 1, key: str | None = None, seconds: int = WAIT_SECONDS
) -> RawRequest:
    headers = {"Idempotency-Key": key} if key else None
    return RawRequest(server.url, LEASES, {"names": [name], "slots": slots, "wait_seconds": seconds}, headers)


def release(client: httpx.Client, lease: dict[str, object]) -> None:
    assert client.delete(f"{LEASES}/{lease['id']}").status_code == 204


def served_in_turn(client: httpx.Client, first: RawRequest, *, then: RawRequest) -> None:
    """`first` is granted promptly, and once it releases, `then` is."""
    status, granted = first.answer(within=PROMPTLY)
    assert status == 201, granted
    release(client, granted)
    assert then.status(within=PROMPTLY) == 201


def in_line(
    server: LiveServer, client: httpx.Client, name: str, *, limit: int, waiting: list[int]
) -> tuple[list[dict[str, object]], list[RawRequest]]:
    """A limit whose `limit` slots are held, and waiters for `waiting` slots each, queued in
    that order (each holds its place before the next comes)."""
    create(client, name, limit=limit)
    holders = [acquire(client, name).json() for _ in range(limit)]
    places = served_places(server)
    waiters = []
    for count, slots in enumerate(waiting, 1):
        waiters.append(wait_for(server, name, slots=slots))
        eventually(lambda count=count: served_places(server) == places + count, what=f"waiter {count} holds a place")
    return holders, waiters


def test_a_heavy_waiter_is_not_overtaken_by_lighter_ones_behind_it(
    server: LiveServer, client: httpx.Client, name: str
) -> None:
    holders, (heavy, light) = in_line(server, client, name, limit=5, waiting=[5, 1])

    for holder in holders:  # each freed slot would fit the light waiter at once
        release(client, holder)
    status, granted = heavy.answer(within=PROMPTLY)
    assert status == 201, granted
    assert client.get(f"/api/v1/limits/{name}").json()["open_leases"] == 1, "the light one still waits"
    release(client, granted)
    assert light.status(within=PROMPTLY) == 201


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
    served_in_turn(client, first_again, then=later)


def test_a_parked_place_lets_everyone_pass(server: LiveServer, client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    holder = acquire(client, name).json()
    parked = parked_places(server)
    assert wait_for(server, name, key=str(uuid.uuid4()), seconds=1).status() == 423
    eventually(lambda: parked_places(server) == parked + 1, what="its place is parked")
    waiting = wait_for(server, name)
    release(client, holder)
    assert waiting.status(within=PROMPTLY) == 201


@contextlib.contextmanager
def replicas(tmp_path: Path, env: dict[str, str]) -> Iterator[list[LiveServer]]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database("postgres", tmp_path))
        yield [stack.enter_context(running_server(url, tmp_path, env=env)) for _ in range(2)]


@pytest.fixture
def two_replicas(tmp_path: Path) -> Iterator[list[LiveServer]]:
    with replicas(tmp_path, NO_RECHECK) as started:
        yield started


@pytest.fixture
def two_replicas_that_look_again(tmp_path: Path) -> Iterator[list[LiveServer]]:
    """A place of a process that stopped lapses with time, which nothing announces: the
    waiters behind it see it once they look again."""
    with replicas(tmp_path, {}) as started:
        yield started


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
        served_in_turn(client, heavy, then=light)


def test_the_places_of_a_stopped_process_lapse(two_replicas_that_look_again: list[LiveServer], name: str) -> None:
    one, two = two_replicas_that_look_again
    with httpx.Client(base_url=two.url, timeout=30) as client:
        create(client, name, limit=1)
        holder = acquire(client, name).json()
        orphan = wait_for(one, name)
        eventually(lambda: served_places(one) == 1, what="the first waiter holds a place")
        one.stop(signal.SIGKILL)
        orphan.close()
        waiting = wait_for(two, name)
        release(client, holder)
        assert waiting.status(within=PROMPTLY) == 201, "the stopped process's place no longer blocks it"


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
        served_in_turn(client, first_again, then=later)


def test_a_waiter_woken_for_slots_that_are_for_one_ahead_passes_the_wake_on(
    server: LiveServer, client: httpx.Client, name: str
) -> None:
    (holder,), (first, second) = in_line(server, client, name, limit=1, waiting=[1, 1])
    # The second, the last to wait, is the first woken when the slot is freed.
    release(client, holder)
    served_in_turn(client, first, then=second)


def test_a_freed_slot_goes_to_the_first_in_line_even_if_a_heavier_waiter_behind_it_asked_last(
    server: LiveServer, client: httpx.Client, name: str
) -> None:
    holders, (light, heavy) = in_line(server, client, name, limit=3, waiting=[1, 3])
    release(client, holders[0])  # fits the light waiter, not the heavy one behind it
    status, granted = light.answer(within=PROMPTLY)
    assert status == 201, granted
    for lease in [*holders[1:], granted]:
        release(client, lease)
    assert heavy.status(within=PROMPTLY) == 201


def test_waiters_that_ask_again_at_once_pass_a_rate_limit_in_turn(client: httpx.Client, name: str) -> None:
    """Callers that wait on the server, each asking again as soon as it passes: each drained
    slot goes to the next in line, which is woken for it."""
    create(client, name, limit=1, slot_decay_per_second=5.0)
    callers, calls = 4, 3
    statuses: list[int] = []

    def call_repeatedly() -> None:
        with httpx.Client(base_url=client.base_url, timeout=WAIT_SECONDS + 30) as caller:
            for _ in range(calls):
                answer = caller.post("/api/v1/rate-limit", json={"names": [name], "wait_seconds": WAIT_SECONDS})
                statuses.append(answer.status_code)

    started = time.monotonic()
    threads = [threading.Thread(target=call_repeatedly) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=calls * (WAIT_SECONDS + 30))
    # 12 calls at 5 per second take about 2.4 s; a waiter left unwoken would wait its wait out.
    assert statuses == [200] * callers * calls
    assert time.monotonic() - started < PROMPTLY
