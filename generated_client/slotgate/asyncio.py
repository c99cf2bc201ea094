"""`concurrency` and `rate_limit` for asyncio tasks, with an async client (one connection
set per event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx

from slotgate import _protocol, errors
from slotgate._protocol import Call, Lease, RetryBudget, describe
from slotgate.client import generated_client
from slotgate.settings import ClientSettings
from slotgate_client.models import Limit

__all__ = ["SlotgateClient", "concurrency", "default_client", "rate_limit"]

logger = logging.getLogger("slotgate")

T = TypeVar("T")


class SlotgateClient:
    """Asynchronous access to a Slotgate server, for use within one event loop."""

    def __init__(self, api_url: str | None = None, api_key: str | None = None) -> None:
        self.settings = ClientSettings.resolve(api_url, api_key)
        self._generated = generated_client(self.settings)

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
    ) -> Lease:
        call = _protocol.acquire(
            names, slots=slots, lease_duration=lease_duration, holder=holder, wait_seconds=wait_seconds
        )
        return await self.call(call)

    async def renew(self, lease_id: str, *, lease_duration: float | None = None) -> Lease:
        return await self.call(_protocol.renew(lease_id, lease_duration=lease_duration))

    async def release(self, lease_id: str) -> None:
        await self.call(_protocol.release(lease_id))

    async def consume(self, names: Sequence[str], *, slots: int = 1, wait_seconds: float = 0.0) -> None:
        await self.call(_protocol.consume(names, slots=slots, wait_seconds=wait_seconds))

    async def limits(self, *, name_prefix: str | None = None, active: bool | None = None) -> AsyncIterator[Limit]:
        after = None
        while True:
            page = await self.call(_protocol.list_page(name_prefix=name_prefix, active=active, after=after))
            for item in page.items:
                yield item
            if not isinstance(page.next_, str):
                return
            after = page.next_

    async def aclose(self) -> None:
        await self._generated.get_async_httpx_client().aclose()


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
) -> AsyncIterator[Lease | None]:
    """The asyncio twin of `slotgate.concurrency`. In strict mode a lost lease cancels the block,
    which then raises `LeaseLost`."""
    api = client or default_client()
    wanted = _protocol.as_names(names)
    what = f"concurrency({describe(wanted)})"
    holder = holder or _protocol.default_holder()
    try:
        lease = await _wait_for(
            lambda wait: api.acquire(
                wanted, slots=occupy, lease_duration=lease_duration, holder=holder, wait_seconds=wait
            ),
            what=what,
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
        )
    except errors.MissingLimits as missing:
        _protocol.run_unguarded(missing, what=what, strict=strict)
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
        await asyncio.shield(_release(api, lease))
    if strict and lease.lost:
        raise errors.LeaseLost(f"{what}: the lease was lost while the block ran ({lease.lost_reason}).")


async def rate_limit(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
    client: SlotgateClient | None = None,
) -> None:
    """The asyncio twin of `slotgate.rate_limit`."""
    api = client or default_client()
    wanted = _protocol.as_names(names)
    what = f"rate_limit({describe(wanted)})"
    try:
        await _wait_for(
            lambda wait: api.consume(wanted, slots=occupy, wait_seconds=wait),
            what=what,
            timeout_seconds=timeout_seconds,
        )
    except errors.MissingLimits as missing:
        _protocol.run_unguarded(missing, what=what, strict=strict)


async def _wait_for(
    attempt: Callable[[float], Awaitable[T]],
    *,
    what: str,
    timeout_seconds: float | None,
    max_retries: int | None = None,
) -> T:
    """`attempt(wait_seconds)` until it is granted or the budget is spent."""
    budget = RetryBudget.starting(time.monotonic(), timeout_seconds, max_retries)
    while True:
        on_server = budget.server_wait(time.monotonic())
        try:
            return await attempt(on_server)
        except errors.SlotsUnavailable as denial:
            await asyncio.sleep(budget.next_wait(denial, now=time.monotonic(), what=what, waited=on_server > 0))


async def _release(api: SlotgateClient, lease: Lease) -> None:
    try:
        await api.release(lease.id)
    except errors.SlotgateError as error:
        _protocol.note_release_failure(lease, error)
    else:
        lease.released = True


async def _renew(api: SlotgateClient, lease: Lease, *, cancel_on_loss: asyncio.Task[Any] | None) -> None:
    expires = time.monotonic() + lease.lease_duration
    interval = _protocol.renew_after(lease)
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
            interval = max(0.05, min(interval, (expires - time.monotonic()) / 2))
            continue
        lease.expires_at = renewed.expires_at
        expires = started + renewed.lease_duration
        interval = _protocol.renew_after(renewed)


def _lost(lease: Lease, reason: str, cancel_on_loss: asyncio.Task[Any] | None) -> None:
    _protocol.mark_lost(lease, reason)
    if cancel_on_loss is not None:
        cancel_on_loss.cancel(msg="slotgate lease lost")
