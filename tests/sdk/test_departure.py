"""A caller that gives up while its request waits on the server takes nothing: the SDK closes
the request's connection, the server withdraws the request, and the next caller is granted.

Each test holds the only slot of a limit, starts an acquire that waits for it, gives up on
that acquire (cancellation, a timeout, KeyboardInterrupt), and releases the slot."""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
from collections.abc import Iterator

import httpx
import pytest

import slotgate
import slotgate.asyncio
from slotgate import Lease, SlotgateClient, concurrency
from tests.sdk.conftest import SETTLE_SECONDS, MakeLimit, eventually, occupied, open_leases


def assert_departed_cleanly(api: SlotgateClient, name: str, holder: Lease) -> None:
    """Once the holder releases, no lease is left open (none went to the departed caller),
    and the next caller is granted."""
    api.release(holder.id)
    assert eventually(lambda: open_leases(api, name) == 0 and occupied(api, name) == 0)
    with concurrency(name, timeout_seconds=SETTLE_SECONDS) as lease:
        assert lease is not None and lease.held


def round_trip(api: SlotgateClient, name: str) -> None:
    """A request on another connection and its answer: sent after an acquire has been sent,
    by the time it is answered the server has read that acquire too."""
    occupied(api, name)


def async_client(url: str, sent: asyncio.Event) -> slotgate.asyncio.SlotgateClient:
    client = slotgate.asyncio.SlotgateClient(url)

    async def on_request(request: httpx.Request) -> None:
        if request.method == "POST":
            sent.set()

    client._generated.get_async_httpx_client().event_hooks["request"].append(on_request)
    return client


def test_a_cancelled_task_takes_nothing(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    holder = api.acquire([name], lease_duration=60)

    async def main() -> None:
        sent = asyncio.Event()
        client = async_client(api.settings.api_url, sent)

        async def acquire() -> None:
            async with slotgate.asyncio.concurrency(name, client=client):
                pytest.fail("the block must not run")

        task = asyncio.create_task(acquire())
        await sent.wait()
        await asyncio.to_thread(round_trip, api, name)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.aclose()

    asyncio.run(main())
    assert_departed_cleanly(api, name, holder)


def test_a_task_whose_asyncio_timeout_passes_takes_nothing(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    holder = api.acquire([name], lease_duration=60)

    async def main() -> None:
        sent = asyncio.Event()
        client = async_client(api.settings.api_url, sent)
        scopes: list[asyncio.Timeout] = []

        async def acquire() -> None:
            async with asyncio.timeout(None) as scope:
                scopes.append(scope)
                async with slotgate.asyncio.concurrency(name, client=client):
                    pytest.fail("the block must not run")

        task = asyncio.create_task(acquire())
        await sent.wait()
        await asyncio.to_thread(round_trip, api, name)
        scopes[0].reschedule(asyncio.get_running_loop().time())  # the timeout passes now
        with pytest.raises(TimeoutError):
            await task
        await client.aclose()

    asyncio.run(main())
    assert_departed_cleanly(api, name, holder)


def test_the_sdk_timeout_takes_nothing(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    holder = api.acquire([name], lease_duration=60)
    with pytest.raises(slotgate.AcquireTimeout), concurrency(name, timeout_seconds=1):
        pytest.fail("the block must not run")
    assert_departed_cleanly(api, name, holder)


@pytest.fixture
def interruptible() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in the main thread, as it does outside pytest.

    Without the garbage collector's callbacks that test plugins install (hypothesis times
    collections): a KeyboardInterrupt raised while one of them runs is swallowed as
    unraisable, and the interrupted call goes on."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    callbacks = gc.callbacks[:]
    gc.callbacks.clear()
    try:
        yield
    finally:
        gc.callbacks[:] = callbacks
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("interruptible")
def test_a_keyboard_interrupt_takes_nothing(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    holder = api.acquire([name], lease_duration=60)
    client = SlotgateClient(api.settings.api_url)
    sent = threading.Event()
    client._generated.get_httpx_client().event_hooks["request"].append(
        lambda request: sent.set() if request.method == "POST" else None
    )

    def interrupt() -> None:
        assert sent.wait(timeout=SETTLE_SECONDS)
        round_trip(api, name)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt), concurrency(name, client=client):  # waits in the main thread
            pytest.fail("the block must not run")
    finally:
        interrupter.join(timeout=SETTLE_SECONDS)
    assert_departed_cleanly(api, name, holder)


def test_a_task_waiting_its_turn_in_the_client_times_out_there(api: SlotgateClient, make_limit: MakeLimit) -> None:
    """With room for one acquisition at the server, a second one waits in the client and
    never sends a request; its timeout is kept all the same."""
    name = make_limit(limit=1)
    holder = api.acquire([name], lease_duration=60)
    posts: list[str] = []

    async def main() -> None:
        sent = asyncio.Event()
        client = slotgate.asyncio.SlotgateClient(api.settings.api_url, max_connections=2)

        async def on_request(request: httpx.Request) -> None:
            if request.method == "POST":
                posts.append(request.headers["Idempotency-Key"])
                sent.set()

        client._generated.get_async_httpx_client().event_hooks["request"].append(on_request)

        async def acquire(timeout: float | None) -> None:
            async with slotgate.asyncio.concurrency(name, timeout_seconds=timeout, client=client):
                pytest.fail("the block must not run")

        first = asyncio.create_task(acquire(None))
        await sent.wait()
        with pytest.raises(slotgate.AcquireTimeout, match="turn"):
            await acquire(1.0)
        assert len(posts) == 1  # the second never went to the server
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await client.aclose()

    asyncio.run(main())
    assert_departed_cleanly(api, name, holder)
