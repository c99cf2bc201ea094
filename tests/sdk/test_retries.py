"""Lost answers, 5xx and an unreachable server: the SDK retries under the same
Idempotency-Key and takes nothing twice, or does what `on_unavailable` says.

Answers are lost at a transport (the request reached the server; its answer does not reach
the SDK), the one place the SDK tests fake anything."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import slotgate
import slotgate.asyncio
from slotgate import SlotgateClient, _protocol, concurrency, rate_limit
from tests.sdk.conftest import MakeLimit, eventually, occupied, open_leases
from tests.support.live_server import LiveServer, fresh_database

UNREACHABLE = "http://127.0.0.1:9"


class LosingAnswers(httpx.BaseTransport):
    """Passes requests on; of the first `lose` requests with `method`, the answer is lost
    (after the server acted on them) or, with `status`, replaced by that status. Records the
    Idempotency-Key of each of those requests and whether its answer was a replay."""

    def __init__(
        self,
        method: str,
        *,
        lose: int = 1,
        status: int | None = None,
        lost: Callable[[httpx.Request], BaseException] | None = None,
    ) -> None:
        self._inner = httpx.HTTPTransport()
        self._method, self._lose, self._status = method, lose, status
        self._lost = lost or (lambda request: httpx.ReadError("the answer was lost", request=request))
        self.keys: list[str | None] = []
        self.replayed: list[bool] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != self._method:
            return self._inner.handle_request(request)
        self.keys.append(request.headers.get("Idempotency-Key"))
        if self._lose and self._status is not None:
            self._lose -= 1
            return httpx.Response(self._status, json={"detail": "a proxy failed"})
        response = self._inner.handle_request(request)
        response.read()
        self.replayed.append(response.headers.get("Idempotent-Replayed") == "true")
        if self._lose:
            self._lose -= 1
            raise self._lost(request)
        return response


class AsyncLosingAnswers(httpx.AsyncBaseTransport):
    """The async twin of `LosingAnswers` (lost answers only)."""

    def __init__(self, method: str, *, hold_back: bool = False) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._method, self._lose, self._hold_back = method, 1, hold_back
        self.keys: list[str | None] = []
        self.answered = asyncio.Event()  # the first answer came from the server

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != self._method:
            return await self._inner.handle_async_request(request)
        self.keys.append(request.headers.get("Idempotency-Key"))
        response = await self._inner.handle_async_request(request)
        await response.aread()
        if self._lose:
            self._lose -= 1
            self.answered.set()
            if self._hold_back:  # the answer stays on its way until the task gives up
                await asyncio.Event().wait()
            raise httpx.ReadError("the answer was lost", request=request)
        return response


def client_through(url: str, transport: httpx.BaseTransport) -> SlotgateClient:
    client = SlotgateClient(url)
    client._generated.set_httpx_client(httpx.Client(base_url=url, timeout=10.0, transport=transport))
    return client


def test_a_lost_grant_is_answered_again_and_taken_once(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=2)
    losing = LosingAnswers("POST")
    with concurrency(name, client=client_through(api.settings.api_url, losing)) as lease:
        assert lease is not None
        assert occupied(api, name) == 1
        assert [str(open_lease.id) for open_lease in api.leases_of(name)] == [lease.id]
    assert losing.keys[0] is not None and losing.keys == [losing.keys[0]] * 2
    assert losing.replayed == [False, True]
    assert occupied(api, name) == 0


def test_a_lost_rate_limit_grant_is_taken_once(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=2, slot_decay_per_second=0.01)
    losing = LosingAnswers("POST")
    rate_limit(name, client=client_through(api.settings.api_url, losing))
    assert len(losing.keys) == 2 and losing.keys[0] == losing.keys[1]
    assert occupied(api, name) < 1.5  # one slot, a little drained; two would be 1.99


def test_an_async_lost_grant_is_taken_once(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=2)
    losing = AsyncLosingAnswers("POST")

    async def main() -> None:
        client = slotgate.asyncio.SlotgateClient(api.settings.api_url)
        http = httpx.AsyncClient(base_url=api.settings.api_url, timeout=10.0, transport=losing)
        client._generated.set_async_httpx_client(http)
        async with slotgate.asyncio.concurrency(name, client=client) as lease:
            assert lease is not None
            assert [str(held.id) for held in await asyncio.to_thread(list, api.leases_of(name))] == [lease.id]
        await client.aclose()

    asyncio.run(main())
    assert len(losing.keys) == 2 and losing.keys[0] == losing.keys[1]
    assert occupied(api, name) == 0


def test_a_grant_on_its_way_to_a_cancelled_task_is_given_back(api: SlotgateClient, make_limit: MakeLimit) -> None:
    """The server granted and answered; the task is cancelled before it reads the answer. The
    SDK asks again under the key and releases the lease the server kept for it."""
    name = make_limit(limit=1)
    held_back = AsyncLosingAnswers("POST", hold_back=True)

    async def main() -> None:
        client = slotgate.asyncio.SlotgateClient(api.settings.api_url)
        http = httpx.AsyncClient(base_url=api.settings.api_url, timeout=10.0, transport=held_back)
        client._generated.set_async_httpx_client(http)

        async def acquire() -> None:
            async with slotgate.asyncio.concurrency(name, client=client):
                pytest.fail("the block must not run")

        task = asyncio.create_task(acquire())
        await held_back.answered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(eventually, lambda: open_leases(api, name) == 0)
        await client.aclose()

    asyncio.run(main())
    assert len(held_back.keys) == 2 and held_back.keys[0] == held_back.keys[1]
    assert occupied(api, name) == 0


@pytest.mark.parametrize(
    ("lost", "raised", "on_unavailable"),
    [
        (lambda request: KeyboardInterrupt(), KeyboardInterrupt, "wait"),
        (lambda request: httpx.ReadError("lost", request=request), slotgate.ServerUnreachable, "raise"),
    ],
    ids=["keyboard-interrupt", "raise-on-unavailable"],
)
def test_a_grant_whose_caller_gave_up_on_its_answer_is_given_back(
    api: SlotgateClient,
    make_limit: MakeLimit,
    lost: Callable[[httpx.Request], BaseException],
    raised: type[BaseException],
    on_unavailable: _protocol.OnUnavailable,
) -> None:
    name = make_limit(limit=1)
    losing = LosingAnswers("POST", lost=lost)
    client = client_through(api.settings.api_url, losing)
    with pytest.raises(raised), concurrency(name, client=client, on_unavailable=on_unavailable):
        pytest.fail("the block must not run")
    assert eventually(lambda: open_leases(api, name) == 0 and len(losing.keys) == 2)
    assert losing.keys[0] == losing.keys[1] and losing.replayed == [False, True]
    assert occupied(api, name) == 0


def test_a_5xx_is_retried(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    failing = LosingAnswers("POST", lose=2, status=502)
    with concurrency(name, client=client_through(api.settings.api_url, failing), timeout_seconds=30) as lease:
        assert lease is not None and lease.held
    assert len(failing.keys) == 3 and len(set(failing.keys)) == 1


def test_a_release_whose_answer_was_lost_is_still_a_release(
    api: SlotgateClient, make_limit: MakeLimit, caplog: pytest.LogCaptureFixture
) -> None:
    name = make_limit(limit=1)
    losing = LosingAnswers("DELETE")
    client = client_through(api.settings.api_url, losing)
    with caplog.at_level(logging.ERROR, logger="slotgate"), concurrency(name, client=client) as lease:
        pass
    assert lease is not None and lease.released and not lease.lost
    assert len(losing.keys) == 2  # the repeat found the lease released: that is success
    assert caplog.text == ""
    assert occupied(api, name) == 0


def test_waiting_for_an_unreachable_server_ends_with_the_timeout() -> None:
    client = SlotgateClient(UNREACHABLE)
    tries: list[float] = []
    client._generated.get_httpx_client().event_hooks["request"].append(lambda _: tries.append(time.monotonic()))
    started = time.monotonic()
    with pytest.raises(slotgate.ServerUnreachable) as raised, concurrency("x", client=client, timeout_seconds=1):
        pytest.fail("the block must not run")
    assert time.monotonic() - started >= 1.0 and len(tries) > 2
    assert "no answer within the timeout" in " ".join(raised.value.__notes__)


def test_proceed_runs_the_block_unguarded_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    client = SlotgateClient(UNREACHABLE, on_unavailable="proceed")
    before = slotgate.unguarded_runs()
    ran = []
    with caplog.at_level(logging.ERROR, logger="slotgate"), concurrency("x", client=client) as lease:
        ran.append(lease)
    rate_limit("x", client=SlotgateClient(UNREACHABLE), on_unavailable="proceed")  # per call, too
    assert ran == [None]
    assert slotgate.unguarded_runs() == before + 2
    assert "UNGUARDED" in caplog.text and "on_unavailable='proceed'" in caplog.text


def test_the_async_twins_proceed_and_raise() -> None:
    async def main() -> None:
        client = slotgate.asyncio.SlotgateClient(UNREACHABLE, on_unavailable="proceed")
        async with slotgate.asyncio.concurrency("x", client=client) as lease:
            assert lease is None
        await slotgate.asyncio.rate_limit("x", client=client)
        with pytest.raises(slotgate.ServerUnreachable):
            await slotgate.asyncio.rate_limit("x", client=client, on_unavailable="raise")

    before = slotgate.unguarded_runs()
    asyncio.run(main())
    assert slotgate.unguarded_runs() == before + 2


def test_missing_limits_count_as_unguarded_runs(api: SlotgateClient) -> None:
    before = slotgate.unguarded_runs()
    with concurrency("no-such-limit-retries"):
        pass
    assert slotgate.unguarded_runs() == before + 1


def test_on_unavailable_is_checked(api: SlotgateClient) -> None:
    with pytest.raises(ValueError, match="on_unavailable"):
        SlotgateClient(api.settings.api_url, on_unavailable="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_unavailable"), concurrency("x", on_unavailable="ignore"):  # type: ignore[arg-type]
        pass


def test_rides_out_a_server_restart(tmp_path: Path) -> None:
    """The server stops; an acquire retries meanwhile; a new server process on the same port
    and database grants it, once."""
    with fresh_database("sqlite", tmp_path) as database_url:
        first = LiveServer(database_url=database_url, log_path=tmp_path / "first.log").start()
        api = SlotgateClient(first.url)
        name = "restart"
        api.call(_protocol.create(name, limit=1))
        first.stop()
        client = SlotgateClient(first.url)
        tries: list[httpx.Request] = []
        client._generated.get_httpx_client().event_hooks["request"].append(tries.append)
        held: dict[str, object] = {}

        def acquire() -> None:
            with concurrency(name, client=client, timeout_seconds=60) as lease:
                held.update(lease=lease, occupied=occupied(api, name), open=open_leases(api, name))

        waiter = threading.Thread(target=acquire)
        waiter.start()
        second = LiveServer(database_url=database_url, log_path=tmp_path / "second.log", port=first.port)
        try:
            assert eventually(lambda: len(tries) >= 2)  # it has found the server gone, and retried
            second.start()
            waiter.join(timeout=60)
            assert held["lease"] is not None
            assert (held["occupied"], held["open"]) == (1, 1)
            assert occupied(api, name) == 0
        finally:
            second.stop()
            waiter.join(timeout=60)
