"""The polling workloads (bench/polling.py): what they count on a real server, and the figures
they report."""

from __future__ import annotations

import uuid

import httpx

from bench import polling, workloads
from tests.support.live_server import LiveServer


def test_the_steady_rate_counts_from_the_first_grant_to_the_last() -> None:
    assert polling.steady_rate([3.0, 1.0, 2.0]) == 1.0
    assert polling.steady_rate([5.0]) == 0.0
    assert polling.steady_rate([]) == 0.0


def test_hint_figures_are_in_milliseconds() -> None:
    figures = polling.hint_figures([0.001, 0.002, 0.003, 0.010])
    assert figures["hints"] == 4
    assert figures["hint_mean_ms"] == 4.0
    assert figures["hint_p50_ms"] == 3.0
    assert figures["hint_max_ms"] == 10.0
    assert polling.hint_figures([])["hint_max_ms"] == 0.0


def test_polling_clients_on_a_decaying_limit_never_beat_its_rate(server: LiveServer, client: httpx.Client) -> None:
    name = f"t-{uuid.uuid4().hex[:12]}"
    client.put(f"/api/v1/limits/{name}", json={"limit": 1, "slot_decay_per_second": 20.0}).raise_for_status()
    polls = workloads.run(polling.poll(server.url, clients=3, seconds=1.0, name=name, slots=False))
    assert 1 <= len(polls.grants) <= 1 + 20 * polls.seconds
    assert polls.server_errors == 0 and polls.other_errors == 0
    # Every hint is at most the drain of one slot.
    assert polls.hints and max(polls.hints) <= 1 / 20 + 1e-6
    figures = polling.rate_figures(polls, rate=20.0)
    assert figures["grants"] == len(polls.grants) == sum(polls.per_client) and figures["hints"] == len(polls.hints)


def test_polling_clients_on_a_full_limit_take_turns(server: LiveServer, client: httpx.Client) -> None:
    name = f"t-{uuid.uuid4().hex[:12]}"
    client.put(f"/api/v1/limits/{name}", json={"limit": 2}).raise_for_status()
    polls = workloads.run(polling.poll(server.url, clients=4, seconds=1.0, name=name, slots=True))
    assert len(polls.grants) >= 1
    assert polls.server_errors == 0 and polls.other_errors == 0
    assert all(0 <= hint < 30 for hint in polls.hints)
    assert client.get(f"/api/v1/limits/{name}").json()["active_slots"] == 0  # every pair released


def test_the_sdk_clients_never_beat_the_rate(server: LiveServer, client: httpx.Client) -> None:
    name = f"t-{uuid.uuid4().hex[:12]}"
    client.put(f"/api/v1/limits/{name}", json={"limit": 1, "slot_decay_per_second": 20.0}).raise_for_status()
    polls = polling.sdk_rate(server.url, clients=2, seconds=1.0, name=name)
    assert 1 <= len(polls.grants) <= 1 + 20 * polls.seconds


def test_each_clients_share_is_counted() -> None:
    polls = polling.Polls(per_client=[3, 0, 5])
    assert polling.client_figures(polls) == {"fewest_of_a_client": 0, "most_of_a_client": 5}
