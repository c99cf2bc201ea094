"""`concurrency` and `rate_limit` for asyncio tasks, with an async client (one connection
set per event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import httpx

from slotgate import _protocol, errors
from slotgate._protocol import Call, Key, Lease, OnUnavailable, RetryBudget, describe
from slotgate.client import ClientBase, seconds_left
from slotgate.settings import ClientSettings
from slotgate_client.models import Limit

__all__ = ["SlotgateClient", "concurrency", "default_client", "rate_limit"]

logger = logging.getLogger("slotgate")

T = TypeVar("T")

DEFAULT_MAX_CONNECTIONS = 32


class SlotgateClient(ClientBase):
    """Asynchronous access to a Slotgate server, for use within one event loop.

    `max_connections` (32 by default; None: no bound) bounds the pool, and every connection
    is kept alive. An acquisition (`concurrency`, `rate_limit`) holds a connection for as long
    as its request waits on the server, so this client lets only some of them be at the
    server at once: three quarters of the pool in all, at most half of that per set of names.
    The others wait their turn here, first come first served per set of names, which costs
    them nothing but a future; when one at the server is answered the next one goes. Thus a
    thousand tasks on one limit keep the same few requests at the server and its throughput,
    and a release or renewal always finds a free connection, where before they queued for
    one behind the waiting acquisitions and the limit stalled.

    The server keeps its waiters in arrival order, across processes; this client takes part
    in that order with the acquisitions at its head, and the rest keep their order here. A
    waiter is never overtaken within its set of names, and sets of names take turns at the
    places that come free, so none starves. Raise `max_connections` for many limits busy at
    once in one loop.

    `on_unavailable` as for the sync client.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        on_unavailable: OnUnavailable = "wait",
    ) -> None:
        super().__init__(api_url, api_key, max_connections=max_connections, on_unavailable=on_unavailable)

    async def call(self, call: Call[T]) -> T:
        try:
            response = await call.endpoint.asyncio_detailed(client=self._generated, **call.arguments)
        except httpx.TransportError as error:
            raise errors.unreachable(self.settings.api_url, error) from error
        return _protocol.result(call, response)

    async def acquire(
        self,
        names: Sequence[str],
        *,
        slots: int = 1,
        lease_duration: float | None = None,
        holder: str = "",
        wait_seconds: float = 0.0,
        idempotency_key: str | None = None,
    ) -> Lease:
        key = idempotency_key or _protocol.new_idempotency_key()
        call = _protocol.acquire(
            names,
            slots=slots,
            lease_duration=lease_duration,
            holder=holder,
            wait_seconds=wait_seconds,
            idempotency_key=key,
        )
        return await self.call(call)

    async def renew(self, lease_id: str, *, lease_duration: float | None = None) -> Lease:
        return await self.call(_protocol.renew(lease_id, lease_duration=lease_duration))

    async def release(self, lease_id: str) -> None:
        await self.call(_protocol.release(lease_id))

    async def consume(
        self, names: Sequence[str], *, slots: int = 1, wait_seconds: float = 0.0, idempotency_key: str | None = None
    ) -> None:
        key = idempotency_key or _protocol.new_idempotency_key()
        await self.call(_protocol.consume(names, slots=slots, wait_seconds=wait_seconds, idempotency_key=key))

    async def limits(self, *, name_prefix: str | None = None, active: bool | None = None) -> AsyncIterator[Limit]:
        after = None
        while True:
            page = await self.call(_protocol.list_page(name_prefix=name_prefix, active=active, after=after))
            for item in page.items:
                yield item
            if not isinstance(page.next_, str):
                return
            after = page.next_

    @contextlib.asynccontextmanager
    async def _turn(self, names: Sequence[str], *, deadline: float | None, what: str) -> AsyncIterator[None]:
        """While an acquisition of `names` may be at the server; until then it waits here, in
        line, at most until `deadline`."""
        if self._admission is None:
            yield
            return
        key = _protocol.names_key(names)
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            if self._admission.arrive(key, ticket):
                ticket.set_result(None)
            else:
                await _turn_of(ticket, deadline=deadline, what=what)
            yield
        finally:
            self._done(key, ticket)

    def _done(self, key: Key, ticket: asyncio.Future[None]) -> None:
        """A resolved ticket holds a place, which passes on; any other leaves the line."""
        assert self._admission is not None
        if not ticket.done() or ticket.cancelled():
            self._admission.withdraw(key, ticket)
            return
        handed = deque(self._admission.leave(key))
        while handed:
            next_key, waiting = handed.popleft()
            if waiting.cancelled():  # its task gave up just now: the place passes on
                handed.extend(self._admission.leave(next_key))
            else:
                waiting.set_result(None)

    def _connect(self) -> None:
        super()._connect()
        self._background: set[asyncio.Task[None]] = set()

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """`work` in a task of its own, which `aclose` waits for."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._generated.get_async_httpx_client().aclose()


async def _turn_of(ticket: asyncio.Future[None], *, deadline: float | None, what: str) -> None:
    try:
        async with asyncio.timeout(seconds_left(deadline)):
            await ticket
    except TimeoutError:
        raise errors.AcquireTimeout(f"{what}: its turn to ask the server did not come within the timeout.") from None


_default_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ClientSettings, SlotgateClient]] = (
    weakref.WeakKeyDictionary()
)


def default_client(api_url: str | None = None, api_key: str | None = None) -> SlotgateClient:
    """The running event loop's client for these settings."""
    clients = _default_clients.setdefault(asyncio.get_running_loop(), {})
    settings = ClientSettings.resolve(api_url, api_key)
    if settings not in clients:
        clients[settings] = SlotgateClient(api_url, api_key)
    return clients[settings]


@contextlib.asynccontextmanager
async def concurrency(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    lease_duration: float = 300,
    strict: bool = False,
    holder: str | None = None,
    client: SlotgateClient | None = None,
    on_unavailable: OnUnavailable | None = None,
) -> AsyncIterator[Lease | None]:
    """The asyncio twin of `slotgate.concurrency`. Cancelling the task while it waits (also by
    `asyncio.timeout`) closes the waiting request's connection, which withdraws it from the
    server's queue; a grant whose answer was already on its way is asked for again in the
    background and released. In strict mode a lost lease cancels the block, which then raises
    `LeaseLost`."""
    api = client or default_client()
    wanted = _protocol.as_names(names)
    what = f"concurrency({describe(wanted)})"
    budget = api._budget(timeout_seconds, max_retries, on_unavailable)
    taker = holder or _protocol.default_holder()

    def ask(wait: float, key: str) -> Awaitable[Lease]:
        return api.acquire(
            wanted, slots=occupy, lease_duration=lease_duration, holder=taker, wait_seconds=wait, idempotency_key=key
        )

    lease = await _unless_unguarded(
        _taking(api, wanted, ask, budget=budget, what=what),
        what=what,
        strict=strict,
        on_unavailable=budget.on_unavailable,
    )
    if lease is None:
        yield None
        return
    block = asyncio.current_task()
    renewer = asyncio.create_task(_renew(api, lease, cancel_on_loss=block if strict else None))
    try:
        yield lease
    except asyncio.CancelledError:
        if strict and lease.lost and block is not None and block.uncancel() == 0:
            raise errors.LeaseLost(
                f"{what}: the lease was lost, so the block was cancelled ({lease.lost_reason})."
            ) from None
        raise
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        # Shielded: a cancellation arriving now must not leave the slots held until expiry.
        await asyncio.shield(_release(api, lease, budget.on_unavailable))
    if strict and lease.lost:
        raise errors.LeaseLost(f"{what}: the lease was lost while the block ran ({lease.lost_reason}).")


async def rate_limit(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
    client: SlotgateClient | None = None,
    on_unavailable: OnUnavailable | None = None,
) -> None:
    """The asyncio twin of `slotgate.rate_limit`."""
    api = client or default_client()
    wanted = _protocol.as_names(names)
    what = f"rate_limit({describe(wanted)})"
    budget = api._budget(timeout_seconds, None, on_unavailable)

    def attempt(wait: float, key: str) -> Awaitable[None]:
        return api.consume(wanted, slots=occupy, wait_seconds=wait, idempotency_key=key)

    await _unless_unguarded(
        _in_turn(api, wanted, attempt, budget=budget, what=what),
        what=what,
        strict=strict,
        on_unavailable=budget.on_unavailable,
    )


async def _unless_unguarded(take: Awaitable[T], *, what: str, strict: bool, on_unavailable: OnUnavailable) -> T | None:
    """`await take`, or None when the block is to run unguarded: its limits do not exist, or
    the server is unavailable and the caller chose to proceed."""
    try:
        return await take
    except errors.MissingLimits as missing:
        _protocol.run_unguarded(missing, what=what, strict=strict)
    except _protocol.UNAVAILABLE as down:
        _protocol.run_unavailable(down, what=what, on_unavailable=on_unavailable)
    return None


async def _taking(
    api: SlotgateClient,
    names: list[str],
    ask: Callable[[float, str], Awaitable[Lease]],
    *,
    budget: RetryBudget,
    what: str,
) -> Lease:
    """A lease, asked for in turn. Given up with a try unsettled (the task cancelled while the
    answer was on its way, the server gone mid-answer), the try may have been granted: it is
    asked for again in the background, and what that grants is released."""
    try:
        return await _in_turn(api, names, ask, budget=budget, what=what)
    except BaseException:
        if budget.unsettled:
            key = budget.key
            api._in_background(_give_back(api, lambda: ask(0.0, key)))
        raise


async def _in_turn(
    api: SlotgateClient,
    names: list[str],
    attempt: Callable[[float, str], Awaitable[T]],
    *,
    budget: RetryBudget,
    what: str,
) -> T:
    async with api._turn(names, deadline=budget.deadline, what=what):
        return await _wait_for(attempt, budget=budget, what=what)


async def _wait_for(attempt: Callable[[float, str], Awaitable[T]], *, budget: RetryBudget, what: str) -> T:
    """`attempt(wait_seconds, idempotency_key)` until it succeeds or the budget is spent."""
    while True:
        on_server = budget.server_wait(time.monotonic())
        try:
            return await attempt(on_server, budget.key)
        except errors.SlotgateError as error:
            await asyncio.sleep(budget.after(error, now=time.monotonic(), what=what))


async def _release(api: SlotgateClient, lease: Lease, on_unavailable: OnUnavailable) -> None:
    """Release, retrying a release whose answer was lost (whose repeat may find it released)."""
    budget = RetryBudget.for_release(time.monotonic(), lease, on_unavailable)

    async def attempt(_wait: float, _key: str) -> None:
        try:
            await api.release(lease.id)
        except errors.LeaseGone as gone:
            if not _protocol.release_done(gone, retried=budget.retries > 0):
                raise

    try:
        await _wait_for(attempt, budget=budget, what=f"release of lease {lease.id}")
    except errors.SlotgateError as error:
        _protocol.note_release_failure(lease, error)
    else:
        lease.released = True


async def _give_back(api: SlotgateClient, ask_again: Callable[[], Awaitable[Lease]]) -> None:
    """Ask again, without waiting, under the key of a try given up unsettled, and release what
    it grants. A server keeps a grant under its key when its answer went out before the client
    closed the connection (it cannot know whether the answer was read); a refusal says nothing
    was kept. (If nothing was, a free slot is taken and given back at once.)"""
    jitter = random.Random()
    for failures in range(1, _protocol.GIVE_BACK_TRIES + 1):
        try:
            lease = await ask_again()
        except errors.IdempotencyKeyInFlight:  # the server has yet to see the connection close
            await asyncio.sleep(_protocol.backoff(failures, jitter))
            continue
        except errors.SlotgateError:
            return
        _protocol.note_given_back(lease)
        await _release(api, lease, "raise")
        return


async def _renew(api: SlotgateClient, lease: Lease, *, cancel_on_loss: asyncio.Task[Any] | None) -> None:
    expires = time.monotonic() + lease.lease_duration
    interval = _protocol.renew_after(lease)
    jitter = random.Random()
    while True:
        await asyncio.sleep(interval)
        started = time.monotonic()
        try:
            renewed = await api.renew(lease.id)
        except (errors.LeaseGone, errors.NotFound) as ended:
            _lost(lease, ended.detail, cancel_on_loss)
            return
        except errors.SlotgateError as error:
            if time.monotonic() >= expires:
                _lost(lease, f"no renewal got through before it expired (last error: {error})", cancel_on_loss)
                return
            logger.warning("Slotgate lease %s: renewal failed (%s); retrying.", lease.id, error)
            interval = _protocol.renew_retry_after(expires - time.monotonic(), jitter)
            continue
        lease.expires_at = renewed.expires_at
        expires = started + renewed.lease_duration
        interval = _protocol.renew_after(renewed)


def _lost(lease: Lease, reason: str, cancel_on_loss: asyncio.Task[Any] | None) -> None:
    _protocol.mark_lost(lease, reason)
    if cancel_on_loss is not None:
        cancel_on_loss.cancel(msg="slotgate lease lost")
