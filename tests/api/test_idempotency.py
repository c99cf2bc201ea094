"""Idempotency-Key on acquire and rate-limit: a repeat gets the first answer and takes nothing
twice, on both stores, against real servers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import acquire, assert_problem, create
from tests.support.live_server import LiveServer, fresh_database, running_server
from tests.support.proxy import dropping_proxy
from tests.support.waiting import RawRequest, eventually, scraped

REPLAYED = "idempotent-replayed"
CLIENT_A, CLIENT_B = "client-a-secret", "client-b-secret"


def key() -> str:
    return str(uuid.uuid4())


def keyed(k: str) -> dict[str, str]:
    return {"Idempotency-Key": k}


def held(client: httpx.Client, name: str) -> tuple[float, int]:
    limit = client.get(f"/api/v1/limits/{name}").json()
    return limit["active_slots"], limit["open_leases"]


def test_a_repeat_gets_the_same_lease_and_takes_nothing(client: httpx.Client, name: str) -> None:
    create(client, name, limit=5)
    k = key()
    first = client.post("/api/v1/leases", json={"names": [name], "holder": "w/1"}, headers=keyed(k))
    assert first.status_code == 201 and REPLAYED not in first.headers
    for _ in range(2):
        repeat = client.post("/api/v1/leases", json={"names": [name], "holder": "w/1"}, headers=keyed(k))
        assert repeat.status_code == 201 and repeat.headers[REPLAYED] == "true"
        assert repeat.json() == first.json()
        assert repeat.headers["location"] == first.headers["location"]
    assert held(client, name) == (1, 1)


def test_a_repeat_may_wait_for_another_time_than_the_first(client: httpx.Client, name: str) -> None:
    create(client, name, limit=5)
    k = key()
    first = client.post("/api/v1/leases", json={"names": [name], "wait_seconds": 5}, headers=keyed(k))
    repeat = client.post("/api/v1/leases", json={"names": [name], "wait_seconds": 1}, headers=keyed(k))
    assert repeat.headers[REPLAYED] == "true" and repeat.json()["id"] == first.json()["id"]


def test_the_quoted_and_the_bare_key_are_one_key(client: httpx.Client, name: str) -> None:
    create(client, name)
    k = key()
    first = client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(f'"{k}"'))
    repeat = client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k))
    assert repeat.headers[REPLAYED] == "true" and repeat.json()["id"] == first.json()["id"]


def test_a_key_sent_with_another_request_is_refused(client: httpx.Client, name: str) -> None:
    create(client, name, slot_decay_per_second=1.0)
    k = key()
    assert client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k)).status_code == 201
    other_slots = client.post("/api/v1/leases", json={"names": [name], "slots": 2}, headers=keyed(k))
    assert assert_problem(other_slots, 422, says="Idempotency-Key")["type"] == "/problems/idempotency-key-reused"
    other_operation = client.post("/api/v1/rate-limit", json={"names": [name]}, headers=keyed(k))
    assert assert_problem(other_operation, 422)["type"] == "/problems/idempotency-key-reused"
    assert held(client, name)[1] == 1


def test_a_refusal_for_now_is_not_kept(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    holder = acquire(client, name).json()
    k = key()
    assert_problem(client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k)), 423)
    assert client.delete(f"/api/v1/leases/{holder['id']}").status_code == 204
    repeat = client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k))
    assert repeat.status_code == 201 and REPLAYED not in repeat.headers


def test_a_final_refusal_is_kept(client: httpx.Client, name: str) -> None:
    k = key()
    assert_problem(client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k)), 404)
    create(client, name)
    repeat = client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k))
    assert assert_problem(repeat, 404)["missing_names"] == [name]
    assert repeat.headers[REPLAYED] == "true"
    assert client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(key())).status_code == 201


def test_replayed_answers_keep_their_own_media_types(client: httpx.Client, name: str) -> None:
    refused, granted = key(), key()
    for _ in range(2):
        assert_problem(client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(refused)), 404)
    create(client, name)
    for _ in range(2):
        answer = client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(granted))
        assert answer.status_code == 201 and answer.headers["content-type"] == "application/json"


def test_a_repeat_while_the_first_still_waits_is_409(client: httpx.Client, name: str) -> None:
    create(client, name, limit=1)
    holder = acquire(client, name).json()
    k = key()
    waiting = scraped(client, "slotgate_waiting_requests", mode="concurrency")
    first = RawRequest(str(client.base_url), "/api/v1/leases", {"names": [name], "wait_seconds": 30}, keyed(k))
    eventually(lambda: scraped(client, "slotgate_waiting_requests", mode="concurrency") > waiting, what="it waits")

    repeat = client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k))
    assert assert_problem(repeat, 409)["type"] == "/problems/idempotency-key-in-flight"
    assert client.delete(f"/api/v1/leases/{holder['id']}").status_code == 204
    status, granted = first.answer()
    assert status == 201
    again = client.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k))
    assert again.headers[REPLAYED] == "true" and again.json()["id"] == granted["id"]


def test_a_grant_whose_answer_was_lost_is_recovered_by_a_repeat(server: LiveServer, name: str) -> None:
    """A proxy drops the 201 after the server committed the grant: the client cannot know it
    holds the slot, and a repeat through the same path tells it."""
    with httpx.Client(base_url=server.url) as direct, dropping_proxy(server.port) as proxy:
        create(direct, name, limit=1)
        k = key()
        with httpx.Client(base_url=proxy.url) as through, pytest.raises(httpx.TransportError):
            through.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k))
        assert proxy.dropped == 1
        assert held(direct, name) == (1, 1), "the grant committed before its answer was lost"

        proxy.drop_answers = False
        with httpx.Client(base_url=proxy.url) as through:
            recovered = through.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k))
        assert recovered.status_code == 201 and recovered.headers[REPLAYED] == "true"
        assert held(direct, name) == (1, 1), "the repeat took nothing"
        assert direct.delete(f"/api/v1/leases/{recovered.json()['id']}").status_code == 204
        assert held(direct, name) == (0, 0)


def test_a_rate_limit_repeat_gets_the_same_grant_and_takes_nothing(client: httpx.Client, name: str) -> None:
    create(client, name, limit=5, slot_decay_per_second=0.001)
    k = key()
    first = client.post("/api/v1/rate-limit", json={"names": [name]}, headers=keyed(k))
    repeat = client.post("/api/v1/rate-limit", json={"names": [name]}, headers=keyed(k))
    assert first.status_code == repeat.status_code == 200
    assert repeat.json() == first.json() and repeat.headers[REPLAYED] == "true"
    assert scraped(client, "slotgate_granted_slots_total", limit=name) == 1


@pytest.fixture(scope="module")
def short_memory(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with two client keys that keeps answers under Idempotency-Keys for 2 s."""
    tmp_dir = tmp_path_factory.mktemp("idempotency")
    env = {
        "SLOTGATE_API_KEYS": f"admin:admin-secret,client:{CLIENT_A},client:{CLIENT_B}",
        "SLOTGATE_DEFAULT_LEASE_SECONDS": "2",
        "SLOTGATE_MAX_LEASE_SECONDS": "2",
        "SLOTGATE_IDEMPOTENCY_SECONDS": "2",
    }
    with fresh_database(store, tmp_dir) as url, running_server(url, tmp_dir, env) as live:
        yield live


def as_key(server: LiveServer, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {api_key}"})


def test_keys_are_scoped_to_the_api_key_that_sent_them(short_memory: LiveServer, name: str) -> None:
    with as_key(short_memory, "admin-secret") as admin:
        create(admin, name)
    k = key()
    with as_key(short_memory, CLIENT_A) as a:
        of_a = a.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k)).json()
    with as_key(short_memory, CLIENT_B) as b:
        of_b = b.post("/api/v1/leases", json={"names": [name]}, headers=keyed(k))
    assert of_b.status_code == 201 and REPLAYED not in of_b.headers
    assert of_b.json()["id"] != of_a["id"]


def test_kept_answers_are_forgotten_after_the_retention(short_memory: LiveServer, name: str) -> None:
    with as_key(short_memory, "admin-secret") as admin:
        create(admin, name, limit=1000, slot_decay_per_second=1000.0)
        k = key()

        def taken_anew() -> bool:
            answer = admin.post("/api/v1/rate-limit", json={"names": [name]}, headers=keyed(k))
            assert answer.status_code == 200
            return REPLAYED not in answer.headers

        assert taken_anew()
        assert not taken_anew()
        eventually(taken_anew, what="the key is forgotten once its retention has passed")


def test_one_key_sent_to_two_replicas_takes_one_lease(tmp_path: Path, name: str) -> None:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database("postgres", tmp_path))
        replicas = [stack.enter_context(running_server(url, tmp_path)) for _ in range(2)]
        first, second = (stack.enter_context(httpx.Client(base_url=replica.url)) for replica in replicas)
        create(first, name, limit=1)
        holder = acquire(first, name).json()
        k = key()
        body = {"names": [name], "wait_seconds": 30}
        waiters = [RawRequest(replica.url, "/api/v1/leases", body, keyed(k)) for replica in replicas]
        for client in (first, second):
            eventually(
                lambda c=client: scraped(c, "slotgate_waiting_requests", mode="concurrency") == 1,
                what="both replicas hold a request with the key",
            )
        assert first.delete(f"/api/v1/leases/{holder['id']}").status_code == 204
        answers = [waiter.answer() for waiter in waiters]
        assert [status for status, _ in answers] == [201, 201]
        assert answers[0][1]["id"] == answers[1][1]["id"]
        assert held(first, name) == (1, 1)
