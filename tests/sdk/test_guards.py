"""`concurrency` and `rate_limit` against a real server: threads, tasks, processes."""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import statistics
import threading
import time

import httpx
import pytest

import slotgate
import slotgate.asyncio
from slotgate import SlotgateClient, concurrency, rate_limit
from tests.sdk.conftest import MakeLimit, occupied
from tests.sdk.workers import hold_in_threads


class Gauge:
    """Counts who is inside a block right now, and the most ever at once."""

    def __init__(self) -> None:
        self.inside = self.most = self.finished = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)

    def leave(self) -> None:
        with self._lock:
            self.inside -= 1
            self.finished += 1


def test_fifty_threads_on_a_limit_of_five(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=5)
    gauge = Gauge()

    def work() -> None:
        with concurrency(name, timeout_seconds=60):
            gauge.enter()
            time.sleep(0.02)
            gauge.leave()

    threads = [threading.Thread(target=work) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert gauge.finished == 50
    assert 1 < gauge.most <= 5
    assert occupied(api, name) == 0


def test_fifty_asyncio_tasks_on_a_limit_of_five(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=5)
    gauge = Gauge()

    async def work() -> None:
        async with slotgate.asyncio.concurrency(name, timeout_seconds=60):
            gauge.enter()
            await asyncio.sleep(0.02)
            gauge.leave()

    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(50):
                group.create_task(work())

    asyncio.run(main())
    assert gauge.finished == 50
    assert 1 < gauge.most <= 5
    assert occupied(api, name) == 0


def test_four_processes_on_a_limit_of_five(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=5)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        results = pool.starmap(hold_in_threads, [(api.settings.api_url, name, 12)] * 4)
    intervals = [interval for result in results for interval in result]
    assert len(intervals) == 48
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    inside = most = 0
    for _, change in events:
        inside += change
        most = max(most, inside)
    assert 1 < most <= 5
    assert occupied(api, name) == 0


def test_rate_limit_passes_every_fifth_of_a_second(make_limit: MakeLimit) -> None:
    name = make_limit(limit=1, slot_decay_per_second=5.0)
    rate_limit(name)  # the burst slot
    passed = []
    for _ in range(15):
        rate_limit(name, timeout_seconds=5)
        passed.append(time.monotonic())
    gaps = [later - earlier for earlier, later in itertools.pairwise(passed)]
    assert 0.18 <= statistics.mean(gaps) <= 0.22, gaps


def test_slow_decay_makes_the_second_call_wait_ten_seconds(make_limit: MakeLimit) -> None:
    name = make_limit(limit=1, slot_decay_per_second=0.1)
    rate_limit(name)
    started = time.monotonic()
    rate_limit(name, timeout_seconds=15)
    assert 9.5 <= time.monotonic() - started <= 11.5


def test_missing_limits_warn_and_run_unguarded(api: SlotgateClient, caplog: pytest.LogCaptureFixture) -> None:
    ran = []
    with caplog.at_level(logging.WARNING, logger="slotgate"), concurrency("no-such-limit-sdk") as lease:
        ran.append(lease)
    assert ran == [None]
    assert "no-such-limit-sdk" in caplog.text and "unguarded" in caplog.text
    rate_limit("no-such-limit-sdk")  # also runs on, with a warning


def test_missing_limits_in_strict_mode_raise_before_the_block(api: SlotgateClient) -> None:
    ran = []
    with pytest.raises(slotgate.MissingLimits) as raised, concurrency("no-such-limit-sdk", strict=True):
        ran.append(True)
    assert ran == [] and raised.value.missing_names == ["no-such-limit-sdk"]
    with pytest.raises(slotgate.MissingLimits):
        rate_limit("no-such-limit-sdk", strict=True)


def test_inactive_limit_never_blocks(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1, active=False)
    with concurrency(name, timeout_seconds=2), concurrency(name, timeout_seconds=2), concurrency(name):
        assert occupied(api, name) == 0


def test_timeout_counts_from_the_call(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    holder = api.acquire([name], lease_duration=30)
    started = time.monotonic()
    with pytest.raises(slotgate.AcquireTimeout) as raised, concurrency(name, timeout_seconds=0.5):
        pytest.fail("the block must not run")
    assert isinstance(raised.value, TimeoutError)
    assert 0.45 <= time.monotonic() - started < 2.0
    slow = make_limit(limit=1, slot_decay_per_second=0.01)
    rate_limit(slow)
    started = time.monotonic()
    with pytest.raises(slotgate.AcquireTimeout):
        rate_limit(slow, timeout_seconds=0.3)  # the server hints 100 s; the caller gives 0.3
    assert 0.25 <= time.monotonic() - started < 1.5
    api.release(holder.id)


def test_max_retries_bounds_the_retries(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    holder = api.acquire([name], lease_duration=30)
    with pytest.raises(slotgate.RetriesExhausted), concurrency(name, max_retries=2):
        pytest.fail("the block must not run")
    assert api.call(slotgate._protocol.read(name)).denied_slots == 3  # the first try and two retries
    api.release(holder.id)


def test_release_on_exception_and_keyboard_interrupt(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    for error in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(error)), concurrency(name) as lease:
            assert occupied(api, name) == 1
            raise error
        assert lease is not None and lease.released
        assert occupied(api, name) == 0


def test_release_on_task_cancellation(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    inside = asyncio.Event()

    async def holder() -> None:
        async with slotgate.asyncio.concurrency(name):
            inside.set()
            await asyncio.sleep(60)

    async def main() -> None:
        task = asyncio.create_task(holder())
        await inside.wait()
        assert occupied(api, name) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert occupied(api, name) == 0


def test_renewal_keeps_a_block_alive_past_its_lease_duration(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    with concurrency(name, lease_duration=0.6) as lease:
        time.sleep(2.0)
        assert lease is not None and lease.held
        assert occupied(api, name) == 1
        with pytest.raises(slotgate.AcquireTimeout), concurrency(name, timeout_seconds=0.3):
            pass
    assert occupied(api, name) == 0


def test_a_short_lease_taken_while_a_long_one_is_held_is_renewed_in_time(
    api: SlotgateClient, make_limit: MakeLimit
) -> None:
    """The renewals wait for the long lease's turn; a lease due sooner wakes them."""
    long_held, short_held = make_limit(limit=1), make_limit(limit=1)
    with concurrency(long_held, lease_duration=300), concurrency(short_held, lease_duration=0.6) as lease:
        time.sleep(2.0)
        assert lease is not None and lease.held
        assert occupied(api, short_held) == 1
    assert occupied(api, short_held) == 0


def test_a_revoked_lease_is_reported_lost(
    api: SlotgateClient, make_limit: MakeLimit, caplog: pytest.LogCaptureFixture
) -> None:
    name = make_limit(limit=1)
    with caplog.at_level(logging.ERROR, logger="slotgate"), concurrency(name, lease_duration=0.6) as lease:
        assert lease is not None
        api.release(lease.id)  # revoked behind the holder's back
        time.sleep(0.6)
        assert lease.lost and not lease.held
    assert "LOST" in caplog.text and lease.id in caplog.text


def test_strict_mode_raises_on_a_lost_lease(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    with pytest.raises(slotgate.LeaseLost), concurrency(name, lease_duration=0.6, strict=True) as lease:
        assert lease is not None
        api.release(lease.id)
        time.sleep(0.6)


def test_strict_mode_cancels_an_async_block_on_a_lost_lease(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    reached_the_end = []

    async def main() -> None:
        async with slotgate.asyncio.concurrency(name, lease_duration=0.6, strict=True) as lease:
            assert lease is not None
            await asyncio.to_thread(api.release, lease.id)
            await asyncio.sleep(5)
            reached_the_end.append(True)

    started = time.monotonic()
    with pytest.raises(slotgate.LeaseLost):
        asyncio.run(main())
    assert reached_the_end == [] and time.monotonic() - started < 2


def test_an_uncontended_block_costs_two_requests(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=3)
    client = SlotgateClient(api.settings.api_url)
    requests: list[str] = []
    http = client._generated.get_httpx_client()
    http.event_hooks["request"].append(lambda request: requests.append(f"{request.method} {request.url.path}"))
    with concurrency(name, client=client):
        pass
    assert [entry.split()[0] for entry in requests] == ["POST", "DELETE"]


def test_an_unreachable_server_is_a_clear_error(make_limit: MakeLimit) -> None:
    client = SlotgateClient("http://127.0.0.1:9", on_unavailable="raise")
    with pytest.raises(slotgate.ServerUnreachable, match=r"127\.0\.0\.1:9"), concurrency("x", client=client):
        pass
    assert issubclass(slotgate.ServerUnreachable, slotgate.SlotgateError)
    assert httpx  # the transport errors are wrapped, never leaked
