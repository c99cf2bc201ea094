"""The rate-accuracy workload: what it counts on a real server, and the figures that tell a
shortfall's cause (a pause of the generator, a gap between grants)."""

from __future__ import annotations

import asyncio
import time

import httpx

from bench import workloads
from tests.support.live_server import LiveServer


def test_the_longest_gap_is_between_consecutive_moments_in_any_order() -> None:
    assert workloads.longest_gap([3.0, 1.0, 1.5, 2.0]) == 1.0
    assert workloads.longest_gap([4.0]) == 0.0
    assert workloads.longest_gap([]) == 0.0


def test_a_loop_kept_from_running_is_seen_as_a_stall() -> None:
    async def blocked_once() -> float:
        done = asyncio.Event()
        ticker = asyncio.create_task(workloads.longest_stall(done, bound_seconds=5.0))
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # holds the loop, as a pause of the machine would
        await asyncio.sleep(0.05)
        done.set()
        return await ticker

    assert 0.25 <= workloads.run(blocked_once()) < 5.0


def test_the_ticker_ends_at_its_bound_even_if_never_told() -> None:
    started = time.perf_counter()
    workloads.run(workloads.longest_stall(asyncio.Event(), bound_seconds=0.2))
    assert time.perf_counter() - started < 2.0


def test_a_decaying_limit_never_grants_more_than_its_rate_allows(
    server: LiveServer, client: httpx.Client, name: str
) -> None:
    client.put(f"/api/v1/limits/{name}", json={"limit": 1, "slot_decay_per_second": 20.0}).raise_for_status()
    result = workloads.Result("rate accuracy")
    workloads.run(workloads.rate_accuracy([server.url], result=result, limit_name=name, clients=4, seconds=1.0))
    # One slot free at the start, then one every 50 ms: never more, however fast the server.
    assert 1 <= result.operations <= 1 + 20 * result.seconds
    assert result.server_errors == 0 and result.other_errors == 0
    # The slot drains every 50 ms, so grants come no closer together on average.
    assert result.extra["longest_gap_between_grants_ms"] >= 40
    assert result.extra["generator_longest_stall_ms"] >= 0
